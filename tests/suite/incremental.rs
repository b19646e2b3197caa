//! Incremental turns for HTTP clients: an SDK-style client sends its whole
//! conversation every turn over HTTP; the proxy sends the strict mock (whose
//! sockets keep each connection's last response, as the backend's do) only
//! the new items on a socket it keeps for the conversation, and falls back to
//! whole turns whenever the chain cannot hold, with the same answers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use codex_responses_proxy::config::Config;
use codex_responses_proxy::config::upstream::UpstreamCompression;
use serde_json::{Value, json};

use crate::common;
use common::mock::{self, Answer, Route, Seen, WsAnswer};
use common::{MockBackend, TestProxy, sse_data, wait_until};

const TEXT: &str = "Hello from the mock.";
const PATIENCE: Duration = Duration::from_secs(10);

/// A mock answering HTTP and socket turns with the same text.
async fn text_mock() -> MockBackend {
    let mock = MockBackend::start().await;
    mock.set_default_answer(Answer::Text {
        text: TEXT.into(),
        pieces: 4,
        pace: Duration::ZERO,
    });
    mock.set_ws_answer_text(TEXT, 4);
    mock
}

async fn proxy(mock: &MockBackend, adjust: impl FnOnce(&mut Config)) -> TestProxy {
    TestProxy::start_with(mock, |c| {
        c.incremental_turns = Some(true);
        adjust(c);
    })
    .await
}

fn user(text: &str) -> Value {
    json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
}

/// A request as an SDK sends one: nothing kept on the server, the whole
/// conversation each time.
fn request(input: &[Value], stream: bool) -> Value {
    json!({"model": "gpt-5", "instructions": "Be brief.", "tools": [], "store": false,
           "stream": stream, "input": input})
}

/// Posts `body` and reads the answer's response object, streamed or not.
async fn turn(proxy: &TestProxy, body: &Value) -> Value {
    let response = proxy.post("/v1/responses", body).await;
    assert_eq!(response.status(), 200);
    if body["stream"] != true {
        return response.json().await.unwrap();
    }
    let text = response.text().await.unwrap();
    let events = sse_data(&text);
    let completed = events
        .iter()
        .find(|e| e["type"] == "response.completed")
        .unwrap_or_else(|| panic!("no response.completed in {text}"));
    completed["response"].clone()
}

/// Sends three turns as an SDK does (each the previous input, the answer's
/// output, one new message); the answers.
async fn conversation(proxy: &TestProxy, stream: bool, turns: usize) -> Vec<Value> {
    let mut input = vec![user("turn 1")];
    let mut answers = Vec::new();
    for n in 1..=turns {
        if n > 1 {
            input.push(user(&format!("turn {n}")));
        }
        let answer = turn(proxy, &request(&input, stream)).await;
        input.extend(answer["output"].as_array().unwrap().iter().cloned());
        answers.push(answer);
    }
    answers
}

fn socket_turns(mock: &MockBackend) -> Vec<Seen> {
    mock.seen()
        .into_iter()
        .filter(|s| matches!(s.route, Route::WebSocket { .. }))
        .collect()
}

/// `(chained, items)` of each socket turn.
fn shapes(turns: &[Seen]) -> Vec<(bool, usize)> {
    turns.iter().map(|s| (s.chained(), s.items())).collect()
}

/// What a client reads of an answer, without the ids that name the call.
fn content(answer: &Value) -> Value {
    json!({"status": answer["status"], "model": answer["model"], "output": answer["output"]})
}

#[tokio::test]
async fn an_sdk_conversation_goes_whole_once_then_as_its_new_items_with_the_same_answers() {
    for stream in [false, true] {
        let mock = text_mock().await;
        let proxy = proxy(&mock, |_| {}).await;
        let answers = conversation(&proxy, stream, 3).await;
        let turns = socket_turns(&mock);
        assert_eq!(
            shapes(&turns),
            [(false, 1), (true, 1), (true, 1)],
            "stream={stream}"
        );
        assert_eq!(mock.responses_calls(), 0);

        let direct = text_mock().await;
        let http = proxy_off(&direct).await;
        let expected = conversation(&http, stream, 3).await;
        assert_eq!(direct.responses_calls(), 3);
        for (got, want) in answers.iter().zip(&expected) {
            assert_eq!(content(got), content(want), "stream={stream}");
        }
        let whole = direct.seen();
        assert_eq!(whole.iter().map(Seen::items).collect::<Vec<_>>(), [1, 3, 5]);
        // The backend's view of the last turn is the whole conversation,
        // sent as a fraction of it.
        assert_eq!(turns[2].history, whole[2].history);
        assert!(
            turns[2].bytes < whole[2].bytes,
            "{} vs {}",
            turns[2].bytes,
            whole[2].bytes
        );
    }
}

/// Whole turns over HTTP, as plain JSON: the byte counts compare with the
/// socket's frames, which are not compressed either.
async fn proxy_off(mock: &MockBackend) -> TestProxy {
    TestProxy::start_with(mock, |c| {
        c.incremental_turns = Some(false);
        c.upstream_compression = UpstreamCompression::Off;
    })
    .await
}

#[tokio::test]
async fn a_changed_setting_or_an_edited_earlier_item_goes_whole_and_becomes_the_base() {
    let mock = text_mock().await;
    let proxy = proxy(&mock, |_| {}).await;
    let mut input = vec![user("turn 1")];
    let mut body = request(&input, false);
    let continue_with = |body: &mut Value, input: &mut Vec<Value>, answer: &Value, text: &str| {
        input.extend(answer["output"].as_array().unwrap().iter().cloned());
        input.push(user(text));
        body["input"] = json!(input);
    };
    let mut answer = turn(&proxy, &body).await;
    let changes = [
        ("instructions", json!("Be long.")),
        (
            "tools",
            json!([{"type": "function", "name": "f", "parameters": {"type": "object"}}]),
        ),
        ("model", json!("gpt-5-codex")),
    ];
    for (n, (key, value)) in changes.iter().enumerate() {
        continue_with(&mut body, &mut input, &answer, &format!("change {n}"));
        body[*key] = value.clone();
        answer = turn(&proxy, &body).await;
    }
    // An edited earlier item.
    continue_with(&mut body, &mut input, &answer, "edited");
    input[0] = user("turn one, edited");
    body["input"] = json!(input);
    answer = turn(&proxy, &body).await;
    // And a turn that continues that one is chained again.
    continue_with(&mut body, &mut input, &answer, "last");
    turn(&proxy, &body).await;
    let chained: Vec<bool> = socket_turns(&mock).iter().map(Seen::chained).collect();
    assert_eq!(chained, [false, false, false, false, false, true]);
}

#[tokio::test]
async fn a_backend_that_forgot_the_conversation_gets_the_turn_whole_and_answers_it() {
    let mock = text_mock().await;
    let proxy = proxy(&mock, |_| {}).await;
    conversation(&proxy, true, 1).await;
    mock.forget_ws_responses();
    let mut input = vec![user("turn 1"), mock::text_message(TEXT), user("turn 2")];
    let answer = turn(&proxy, &request(&input, true)).await;
    assert_eq!(answer["output"][0]["content"][0]["text"], TEXT);
    let turns = socket_turns(&mock);
    assert_eq!(shapes(&turns), [(false, 1), (true, 1), (false, 3)]);
    assert!(
        turns
            .iter()
            .all(|s| s.route == Route::WebSocket { connection: 1 })
    );
    // The whole turn is the new base: the next one is chained on it.
    input.extend([mock::text_message(TEXT), user("turn 3")]);
    turn(&proxy, &request(&input, false)).await;
    assert_eq!(shapes(&socket_turns(&mock))[3], (true, 1));
}

#[tokio::test]
async fn a_socket_closed_before_the_answer_began_gets_the_turn_again_on_a_new_one() {
    let mock = text_mock().await;
    let proxy = proxy(&mock, |_| {}).await;
    conversation(&proxy, true, 1).await;
    let created = mock::text_answer_as("resp_closed", TEXT, 1)[0].clone();
    mock.push_ws_answer(WsAnswer::Close {
        events: vec![created],
    });
    let input = [user("turn 1"), mock::text_message(TEXT), user("turn 2")];
    for stream in [true, false] {
        let answer = turn(&proxy, &request(&input, stream)).await;
        assert_eq!(answer["output"][0]["content"][0]["text"], TEXT);
        assert_ne!(answer["id"], "resp_closed");
    }
    let turns = socket_turns(&mock);
    assert_eq!(shapes(&turns)[1..3], [(true, 1), (false, 3)]);
    assert_eq!(turns[1].route, Route::WebSocket { connection: 1 });
    assert_eq!(turns[2].route, Route::WebSocket { connection: 2 });
    assert_eq!(mock.responses_calls(), 0);
}

#[tokio::test]
async fn a_socket_the_backend_ended_at_its_time_limit_is_replaced_for_the_turn() {
    let mock = text_mock().await;
    let proxy = proxy(&mock, |_| {}).await;
    conversation(&proxy, false, 1).await;
    mock.push_ws_answer(WsAnswer::connection_limit());
    let input = [user("turn 1"), mock::text_message(TEXT), user("turn 2")];
    let answer = turn(&proxy, &request(&input, false)).await;
    assert_eq!(answer["output"][0]["content"][0]["text"], TEXT);
    let turns = socket_turns(&mock);
    assert_eq!(shapes(&turns)[1..], [(true, 1), (false, 3)]);
    assert_eq!(turns[2].route, Route::WebSocket { connection: 2 });
}

#[tokio::test]
async fn a_refused_upgrade_sends_the_turns_whole_over_http() {
    let mock = text_mock().await;
    mock.refuse_websocket(Some(404));
    let proxy = proxy(&mock, |_| {}).await;
    let answers = conversation(&proxy, true, 2).await;
    assert_eq!(answers[1]["output"][0]["content"][0]["text"], TEXT);
    assert_eq!(mock.responses_calls(), 2);
    // Refused once, remembered: the second turn did not ask again.
    assert_eq!(mock.ws_handshakes().len(), 1);
}

#[tokio::test]
async fn concurrent_requests_of_one_conversation_are_both_answered_and_one_at_most_chained() {
    let mock = text_mock().await;
    let proxy = proxy(&mock, |_| {}).await;
    conversation(&proxy, false, 1).await;
    // The chained turn's answer takes a while, so the other arrives during it.
    mock.push_ws_answer(WsAnswer::Events {
        events: mock::text_answer_as("resp_slow", TEXT, 4),
        pace: Duration::from_millis(60),
    });
    let input = [user("turn 1"), mock::text_message(TEXT), user("turn 2")];
    let body = request(&input, true);
    let (a, b) = tokio::join!(turn(&proxy, &body), turn(&proxy, &body));
    for answer in [a, b] {
        assert_eq!(answer["output"][0]["content"][0]["text"], TEXT);
    }
    let later: Vec<Seen> = mock.seen().into_iter().skip(1).collect();
    assert_eq!(later.len(), 2);
    assert!(later.iter().filter(|s| s.chained()).count() <= 1);
    assert_eq!(
        later.iter().filter(|s| s.route == Route::Responses).count(),
        1
    );
}

#[tokio::test]
async fn an_idle_conversation_socket_is_closed_and_its_next_turn_goes_whole() {
    let mock = text_mock().await;
    let proxy = proxy(&mock, |c| c.incremental_idle = Duration::from_millis(300)).await;
    conversation(&proxy, false, 1).await;
    assert_eq!(mock.ws_open(), 1);
    wait_until(PATIENCE, "the idle socket closed", || mock.ws_open() == 0).await;
    let input = [user("turn 1"), mock::text_message(TEXT), user("turn 2")];
    turn(&proxy, &request(&input, false)).await;
    let turns = socket_turns(&mock);
    assert_eq!(shapes(&turns), [(false, 1), (false, 3)]);
    assert_eq!(turns[1].route, Route::WebSocket { connection: 2 });
}

#[tokio::test]
async fn past_the_socket_bound_the_least_recently_used_conversation_is_closed() {
    let mock = text_mock().await;
    let proxy = proxy(&mock, |c| c.incremental_max_sockets = 2).await;
    let keyed = |key: &str, input: &[Value]| {
        let mut body = request(input, false);
        body["prompt_cache_key"] = json!(key);
        body
    };
    for key in ["a", "b", "c"] {
        turn(&proxy, &keyed(key, &[user(key)])).await;
    }
    wait_until(PATIENCE, "two sockets open", || mock.ws_open() == 2).await;
    for key in ["c", "a"] {
        let input = [user(key), mock::text_message(TEXT), user("more")];
        turn(&proxy, &keyed(key, &input)).await;
    }
    // c kept its socket and its chain; a's was closed for c's, so it starts over.
    assert_eq!(shapes(&socket_turns(&mock))[3..], [(true, 1), (false, 3)]);
    assert_eq!(mock.ws_connections(), 4);
}

#[tokio::test]
async fn status_shows_the_conversation_sockets_and_metrics_count_turns_by_mode() {
    let mock = text_mock().await;
    let proxy = proxy(&mock, |c| c.metrics = true).await;
    let mut body = request(&[user("turn 1")], false);
    body["prompt_cache_key"] = json!("secret-conversation-key");
    turn(&proxy, &body).await;
    body["input"] = json!([user("turn 1"), mock::text_message(TEXT), user("turn 2")]);
    turn(&proxy, &body).await;
    let status: Value = proxy.get("/v1/status").await.json().await.unwrap();
    let sockets = status["conversation_sockets"].as_array().unwrap();
    assert_eq!(sockets.len(), 1);
    assert_eq!(sockets[0]["turns"], 2);
    assert_eq!(sockets[0]["in_turn"], false);
    assert!(!status.to_string().contains("secret-conversation-key"));
    let text = proxy.get("/metrics").await.text().await.unwrap();
    let metrics = common::openmetrics::parse(&text).unwrap();
    let turns = |mode| {
        metrics.value(
            "codex_proxy_upstream_turns",
            "codex_proxy_upstream_turns_total",
            &[("mode", mode)],
        )
    };
    assert_eq!(turns("incremental"), Some(1.0));
    assert_eq!(turns("whole"), Some(1.0));
    let sent = socket_turns(&mock)
        .iter()
        .map(|s| s.bytes as f64)
        .sum::<f64>();
    let bytes = metrics.value(
        "codex_proxy_upstream_sent_bytes",
        "codex_proxy_upstream_sent_bytes_total",
        &[("mode", "incremental")],
    );
    assert!(
        bytes.is_some_and(|b| b > 0.0 && b < sent),
        "{bytes:?} of {sent}"
    );
}

#[tokio::test]
async fn a_kept_conversation_continued_by_previous_response_id_is_chained() {
    let mock = text_mock().await;
    let proxy = proxy(&mock, |_| {}).await;
    let first = turn(
        &proxy,
        &json!({"model": "gpt-5", "input": [user("turn 1")]}),
    )
    .await;
    let next = json!({"model": "gpt-5", "input": [user("turn 2")],
                      "previous_response_id": first["id"]});
    let second = turn(&proxy, &next).await;
    assert_eq!(second["previous_response_id"], first["id"]);
    let turns = socket_turns(&mock);
    assert_eq!(shapes(&turns), [(false, 1), (true, 1)]);
    assert_eq!(turns[1].history.len(), 3);
}

#[tokio::test]
async fn left_unset_incremental_turns_are_off_for_an_upstream_other_than_chatgpt() {
    let mock = text_mock().await;
    let proxy = TestProxy::start(&mock).await;
    conversation(&proxy, false, 2).await;
    assert_eq!(mock.responses_calls(), 2);
    assert!(socket_turns(&mock).is_empty());
    let mut config = Config::default();
    assert!(config.chains_turns());
    config.incremental_turns = Some(false);
    assert!(!config.chains_turns());
}

#[tokio::test]
async fn a_chat_completions_conversation_is_chained_as_a_responses_one() {
    let mock = text_mock().await;
    let proxy = proxy(&mock, |_| {}).await;
    let mut messages = vec![json!({"role": "user", "content": "turn 1"})];
    for n in 2..=3 {
        let body = json!({"model": "gpt-5", "messages": messages});
        let response = proxy.post("/v1/chat/completions", &body).await;
        assert_eq!(response.status(), 200);
        let completion: Value = response.json().await.unwrap();
        let reply = completion["choices"][0]["message"].clone();
        assert_eq!(reply["content"], TEXT);
        messages.push(json!({"role": "assistant", "content": reply["content"]}));
        messages.push(json!({"role": "user", "content": format!("turn {n}")}));
    }
    let body = json!({"model": "gpt-5", "messages": messages, "stream": true});
    let text = proxy
        .post("/v1/chat/completions", &body)
        .await
        .text()
        .await
        .unwrap();
    assert!(text.contains("[DONE]"), "{text}");
    assert_eq!(
        shapes(&socket_turns(&mock)),
        [(false, 1), (true, 1), (true, 1)]
    );
}

#[tokio::test]
async fn the_turn_state_comes_back_as_a_header_and_goes_with_the_next_turn() {
    let mock = text_mock().await;
    let proxy = proxy(&mock, |_| {}).await;
    let input = [user("turn 1")];
    let first = proxy.post("/v1/responses", &request(&input, false)).await;
    let state = first.headers()[mock::TURN_STATE]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(mock.turn_states_issued().len(), 1);
    let input = [user("turn 1"), mock::text_message(TEXT), user("turn 2")];
    let next = proxy
        .client
        .post(proxy.url("/v1/responses"))
        .header(mock::TURN_STATE, &state)
        .json(&request(&input, false))
        .send()
        .await
        .unwrap();
    assert_eq!(next.headers()[mock::TURN_STATE], state.as_str());
    let turns = socket_turns(&mock);
    assert_eq!(shapes(&turns), [(false, 1), (true, 1)]);
    assert_eq!(turns[1].turn_state.as_deref(), Some(state.as_str()));
}
