//! The Responses WebSocket through the proxy (PROTOCOL.md §8): a WebSocket
//! client on one side, the strict mock's own socket (or its HTTP endpoint,
//! when it refuses the upgrade) on the other, over real sockets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;
#[path = "websocket/failures.rs"]
mod failures;
#[path = "websocket/frames.rs"]
mod frames;
#[path = "websocket/limits.rs"]
mod limits;

use std::time::Duration;

use common::mock::{self, Outcome, Route, WsAnswer};
use common::{MockBackend, TestProxy, wait_until};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const PATIENCE: Duration = Duration::from_secs(10);

/// A socket to the proxy at `path`, with `headers` on the handshake.
async fn try_connect(
    proxy: &TestProxy,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Socket, WsError> {
    let url = format!("ws://{}{path}", proxy.addr);
    let mut request = url.into_client_request().unwrap();
    for (name, value) in headers {
        let name = axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap();
        request.headers_mut().insert(name, value.parse().unwrap());
    }
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(socket, _)| socket)
}

/// A socket to the proxy as the Codex CLI opens one.
async fn connect(proxy: &TestProxy) -> Socket {
    let headers = [("openai-beta", mock::BETA), ("originator", "codex_exec")];
    try_connect(proxy, "/v1/responses", &headers).await.unwrap()
}

/// A `response.create` as the CLI sends it (no instructions: the proxy
/// adds them), with `extra` fields merged in.
fn create(input: Value, extra: Value) -> Value {
    let mut frame = json!({
        "type": "response.create", "model": "gpt-5", "input": input, "tools": [],
        "store": false, "stream": true, "prompt_cache_key": "conv-1",
    });
    for (k, v) in extra.as_object().unwrap() {
        frame[k] = v.clone();
    }
    frame
}

fn user(text: &str) -> Value {
    json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
}

async fn send(socket: &mut Socket, frame: &Value) {
    socket.send(Message::text(frame.to_string())).await.unwrap();
}

/// The next message other than a pong; `None` once the socket ended.
async fn next(socket: &mut Socket) -> Option<Message> {
    loop {
        let message = tokio::time::timeout(PATIENCE, socket.next()).await.unwrap();
        match message {
            Some(Ok(Message::Pong(_))) => continue,
            Some(Ok(message)) => return Some(message),
            Some(Err(_)) | None => return None,
        }
    }
}

/// The next text frame, as JSON.
async fn next_frame(socket: &mut Socket) -> Value {
    match next(socket).await {
        Some(Message::Text(text)) => serde_json::from_str(text.as_str()).unwrap(),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

/// The frames of one answer, up to its terminal event or `error`.
async fn answer(socket: &mut Socket) -> Vec<Value> {
    let mut frames = Vec::new();
    loop {
        let frame = next_frame(socket).await;
        let last = matches!(
            frame["type"].as_str(),
            Some("response.completed" | "response.failed" | "error")
        );
        frames.push(frame);
        if last {
            return frames;
        }
    }
}

/// The `response.metadata` frame the mock opens its turn `n` (from 1) with.
fn metadata(mock: &MockBackend, n: usize) -> Value {
    let state = &mock.turn_states_issued()[n - 1];
    json!({"type": "response.metadata", "headers": {"x-codex-turn-state": state, "openai-model": "gpt-5"}})
}

/// What the mock's socket answers its turn `n` with, by default.
fn full_answer(mock: &MockBackend, connection: usize, n: usize) -> Vec<Value> {
    let id = format!("resp_ws_{connection}_{n}");
    let mut frames = vec![metadata(mock, mock.turn_states_issued().len())];
    frames.extend(mock::text_answer_as(&id, "Hello from the mock.", 4));
    frames
}

#[tokio::test]
async fn a_full_turn_is_patched_like_an_http_body_and_answered_frame_by_frame() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let mut socket = connect(&proxy).await;
    send(&mut socket, &create(json!([user("one")]), json!({}))).await;
    assert_eq!(answer(&mut socket).await, full_answer(&mock, 1, 1));

    let seen = mock.last_seen();
    assert_eq!(seen.route, Route::WebSocket { connection: 1 });
    let mut expected = create(json!([user("one")]), json!({}));
    expected["instructions"] = json!(codex_responses_proxy::config::Config::default().instructions);
    assert_eq!(seen.body, expected);
    // The handshake the backend saw: ours, with the login and the client's
    // conversation id.
    let handshake = &mock.ws_handshakes()[0];
    assert_eq!(handshake.outcome, Outcome::Accepted { connection: 1 });
    let login = proxy.read_auth();
    let bearer = format!(
        "Bearer {}",
        login["tokens"]["access_token"].as_str().unwrap()
    );
    assert_eq!(handshake.headers["authorization"], bearer.as_str());
    assert_eq!(handshake.headers["chatgpt-account-id"], mock::ACCOUNT_ID);
    assert_eq!(handshake.headers["openai-beta"], mock::BETA);
    assert_eq!(handshake.headers["originator"], "codex_cli_rs");
    assert_eq!(handshake.headers["session-id"], "conv-1");
    assert_eq!(mock.responses_calls(), 0);
}

#[tokio::test]
async fn an_incremental_turn_reaches_the_same_backend_socket_which_sees_the_whole_conversation() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let mut socket = connect(&proxy).await;
    send(&mut socket, &create(json!([user("one")]), json!({}))).await;
    answer(&mut socket).await;
    let previous = json!({"previous_response_id": "resp_ws_1_1"});
    send(&mut socket, &create(json!([user("two")]), previous)).await;
    assert_eq!(answer(&mut socket).await, full_answer(&mock, 1, 2));

    let seen = mock.last_seen();
    assert_eq!(seen.body["previous_response_id"], "resp_ws_1_1");
    assert_eq!(seen.body["input"], json!([user("two")]));
    assert_eq!(
        seen.history,
        vec![
            user("one"),
            mock::text_message("Hello from the mock."),
            user("two")
        ]
    );
    assert_eq!(mock.ws_connections(), 1);
}

#[tokio::test]
async fn a_prewarm_goes_to_the_backend_and_the_real_turn_continues_from_it() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let mut socket = connect(&proxy).await;
    let prewarm = json!({"generate": false});
    send(&mut socket, &create(json!([user("one")]), prewarm)).await;
    let frames = answer(&mut socket).await;
    let mut expected = vec![metadata(&mock, 1)];
    expected.extend(mock::prewarm_answer("resp_ws_1_1"));
    assert_eq!(frames, expected);
    assert_eq!(mock.last_seen().body["generate"], false);

    let previous = json!({"previous_response_id": "resp_ws_1_1"});
    send(&mut socket, &create(json!([]), previous)).await;
    assert_eq!(answer(&mut socket).await, full_answer(&mock, 1, 2));
    assert_eq!(mock.last_seen().history, vec![user("one")]);
}

#[tokio::test]
async fn an_unknown_previous_id_gets_the_wrapped_error_and_the_full_resend_works() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let mut socket = connect(&proxy).await;
    let previous = json!({"previous_response_id": "resp_elsewhere"});
    send(&mut socket, &create(json!([user("two")]), previous)).await;
    assert_eq!(
        answer(&mut socket).await,
        vec![mock::previous_not_found("resp_elsewhere")]
    );
    send(
        &mut socket,
        &create(json!([user("one"), user("two")]), json!({})),
    )
    .await;
    assert_eq!(answer(&mut socket).await, full_answer(&mock, 1, 1));
    assert_eq!(mock.ws_connections(), 1);
}

#[tokio::test]
async fn the_turn_state_reaches_the_client_and_client_metadata_reaches_the_backend_untouched() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let mut socket = connect(&proxy).await;
    send(&mut socket, &create(json!([user("one")]), json!({}))).await;
    let first = answer(&mut socket).await;
    let state = first[0]["headers"]["x-codex-turn-state"].clone();
    assert_eq!(state, json!(mock.turn_states_issued()[0]));

    // A later request of the same turn carries it back in client_metadata.
    let client_metadata = json!({
        "x-codex-turn-state": state,
        "x-codex-turn-metadata": "{\"turn_id\":\"t1\",\"request_kind\":\"turn\"}",
        "session_id": "conv-1",
    });
    let extra = json!({"previous_response_id": "resp_ws_1_1", "client_metadata": client_metadata});
    send(&mut socket, &create(json!([user("tool output")]), extra)).await;
    let second = answer(&mut socket).await;
    assert_eq!(second[0]["headers"]["x-codex-turn-state"], state);
    let seen = mock.last_seen();
    assert_eq!(
        seen.turn_state.as_ref(),
        state.as_str().map(str::to_owned).as_ref()
    );
    assert_eq!(seen.body["client_metadata"], client_metadata);
    assert_eq!(mock.turn_states_issued().len(), 1);
}

#[tokio::test]
async fn unknown_codex_headers_and_trace_context_reach_the_backends_handshake_but_a_cookie_does_not()
 {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let sent = [
        ("openai-beta", mock::BETA),
        ("originator", "codex_exec"),
        ("x-codex-feature-of-next-week", "on"),
        ("x-openai-internal-codex-responses-lite", "true"),
        (
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ),
        ("cookie", "session=from-a-browser"),
    ];
    let mut socket = try_connect(&proxy, "/v1/responses", &sent).await.unwrap();
    send(&mut socket, &create(json!([user("one")]), json!({}))).await;
    assert_eq!(answer(&mut socket).await, full_answer(&mock, 1, 1));
    let handshakes = mock.ws_handshakes();
    let [handshake] = handshakes.as_slice() else {
        panic!("one handshake expected: {handshakes:?}");
    };
    let got = |name: &str| {
        handshake
            .headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    for (name, value) in &sent[2..5] {
        assert_eq!(got(name).as_deref(), Some(*value), "{name}");
    }
    assert_eq!(got("cookie"), None);
}

#[tokio::test]
async fn a_backend_that_refuses_the_upgrade_serves_the_socket_over_http() {
    let mock = MockBackend::start().await;
    mock.refuse_websocket(Some(426));
    let proxy = TestProxy::start(&mock).await;
    let mut socket = connect(&proxy).await;

    // A prewarm is answered by the proxy: nothing to warm over HTTP.
    send(
        &mut socket,
        &create(json!([user("one")]), json!({"generate": false})),
    )
    .await;
    let prewarm = answer(&mut socket).await;
    let kinds: Vec<&str> = prewarm
        .iter()
        .map(|f| f["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["response.created", "response.completed"]);
    assert_eq!(prewarm[1]["response"]["output"], json!([]));
    assert_eq!(mock.responses_calls(), 0);

    // The real turn continues from it, over HTTP, with the whole input.
    let prewarm_id = prewarm[1]["response"]["id"].clone();
    let extra = json!({"previous_response_id": prewarm_id,
        "client_metadata": {"x-codex-turn-state": "ts_from_client"}});
    send(&mut socket, &create(json!([user("two")]), extra)).await;
    let frames = answer(&mut socket).await;
    let state = &mock.turn_states_issued()[0];
    assert_eq!(
        frames[0],
        json!({"type": "response.metadata", "headers": {"x-codex-turn-state": state,
            "openai-model": "gpt-5", "x-models-etag": "\"models-v1\"", "x-reasoning-included": "true"}})
    );
    assert_eq!(
        frames[1..],
        mock::text_answer("Hello from the mock.", 4)[..]
    );
    let seen = mock.last_seen();
    assert_eq!(seen.route, Route::Responses);
    assert_eq!(seen.history, vec![user("one"), user("two")]);
    assert_eq!(seen.turn_state.as_deref(), Some("ts_from_client"));
    for field in ["type", "generate", "previous_response_id"] {
        assert!(seen.body.get(field).is_none(), "{field} went over HTTP");
    }
    assert_eq!(
        seen.body["client_metadata"]["x-codex-turn-state"],
        "ts_from_client"
    );

    // And so on from the answer; an id this socket never saw cannot be.
    let previous = json!({"previous_response_id": "resp_mock_1"});
    send(&mut socket, &create(json!([user("three")]), previous)).await;
    answer(&mut socket).await;
    let text = mock::text_message("Hello from the mock.");
    assert_eq!(
        mock.last_seen().history,
        vec![user("one"), user("two"), text, user("three")]
    );
    let previous = json!({"previous_response_id": "resp_unknown"});
    send(&mut socket, &create(json!([user("four")]), previous)).await;
    assert_eq!(
        answer(&mut socket).await,
        vec![mock::previous_not_found("resp_unknown")]
    );
    // One handshake was tried for the whole socket.
    let outcomes: Vec<Outcome> = mock.ws_handshakes().iter().map(|h| h.outcome).collect();
    assert_eq!(outcomes, vec![Outcome::Refused { status: 426 }]);
    assert_eq!(mock.responses_calls(), 2);
}

#[tokio::test]
async fn a_client_that_vanishes_mid_turn_abandons_the_backends_socket() {
    let mock = MockBackend::start().await;
    let head = mock::text_answer("never finished", 2)[..3].to_vec();
    mock.push_ws_answer(WsAnswer::Stall {
        events: head.clone(),
    });
    let proxy = TestProxy::start(&mock).await;
    let mut socket = connect(&proxy).await;
    send(&mut socket, &create(json!([user("one")]), json!({}))).await;
    let mut frames = Vec::new();
    for _ in 0..=head.len() {
        frames.push(next_frame(&mut socket).await);
    }
    assert_eq!(frames, [vec![metadata(&mock, 1)], head].concat());
    // One request at a time: a second one is refused while this one runs.
    send(&mut socket, &create(json!([user("again")]), json!({}))).await;
    assert_eq!(
        next_frame(&mut socket).await["error"]["code"],
        "response_in_progress"
    );
    assert_eq!(
        mock.state
            .ws
            .creates
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    drop(socket);
    wait_until(PATIENCE, "the backend to see its socket abandoned", || {
        mock.ws_abandoned() == 1 && mock.ws_open() == 0
    })
    .await;
}

#[tokio::test]
async fn a_backend_that_closes_mid_turn_gives_a_wrapped_error_and_the_next_turn_reopens() {
    let mock = MockBackend::start().await;
    let head = mock::text_answer("cut short", 2)[..3].to_vec();
    mock.push_ws_answer(WsAnswer::Close {
        events: head.clone(),
    });
    mock.push_ws_answer(WsAnswer::Vanish {
        events: head.clone(),
    });
    let proxy = TestProxy::start(&mock).await;
    let mut socket = connect(&proxy).await;
    for (n, code, message) in [
        (
            1,
            "upstream_stream_incomplete",
            "the Codex backend closed the stream before response.completed",
        ),
        (2, "upstream_stream_broken", ""),
    ] {
        send(&mut socket, &create(json!([user("one")]), json!({}))).await;
        let frames = answer(&mut socket).await;
        let mut expected = vec![metadata(&mock, n)];
        expected.extend(head.iter().cloned());
        assert_eq!(frames[..frames.len() - 1], expected[..]);
        let error = frames.last().unwrap();
        assert_eq!(error["type"], "error");
        assert_eq!(error["status"], 502);
        assert_eq!(error["error"]["type"], "upstream_error");
        assert_eq!(error["error"]["code"], code);
        if !message.is_empty() {
            assert_eq!(error["error"]["message"], message);
        }
    }
    send(&mut socket, &create(json!([user("one")]), json!({}))).await;
    assert_eq!(answer(&mut socket).await, full_answer(&mock, 3, 1));
    assert_eq!(mock.ws_connections(), 3);
}

#[tokio::test]
async fn the_sixty_minute_limit_passes_through_and_the_next_turn_opens_a_new_socket() {
    let mock = MockBackend::start().await;
    mock.push_ws_answer(WsAnswer::connection_limit());
    let proxy = TestProxy::start(&mock).await;
    let mut socket = connect(&proxy).await;
    send(&mut socket, &create(json!([user("one")]), json!({}))).await;
    assert_eq!(
        answer(&mut socket).await,
        vec![metadata(&mock, 1), mock::connection_limit_error()]
    );
    wait_until(PATIENCE, "the backend to close its socket", || {
        mock.ws_open() == 0
    })
    .await;
    send(&mut socket, &create(json!([user("one")]), json!({}))).await;
    assert_eq!(answer(&mut socket).await, full_answer(&mock, 2, 1));
    assert_eq!(mock.ws_connections(), 2);
}

#[tokio::test]
async fn the_handshake_needs_the_client_key_when_one_is_set() {
    let mock = MockBackend::start().await;
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("key");
    std::fs::write(&key_file, "sk-local-1\n").unwrap();
    let proxy = TestProxy::start_with(&mock, |c| c.api_key_file = Some(key_file)).await;
    let beta = ("openai-beta", mock::BETA);
    let Err(WsError::Http(refused)) = try_connect(&proxy, "/responses", &[beta]).await else {
        panic!("a handshake without the key was accepted");
    };
    assert_eq!(refused.status(), 401);
    let wrong = [beta, ("authorization", "Bearer sk-other")];
    assert!(try_connect(&proxy, "/responses", &wrong).await.is_err());
    let right = [beta, ("authorization", "Bearer sk-local-1")];
    let mut socket = try_connect(&proxy, "/responses", &right).await.unwrap();
    send(&mut socket, &create(json!([user("one")]), json!({}))).await;
    assert_eq!(answer(&mut socket).await, full_answer(&mock, 1, 1));
    // The client's key stays here: the backend gets the login.
    let handshake = &mock.ws_handshakes()[0];
    assert_ne!(handshake.headers["authorization"], "Bearer sk-local-1");
}

#[tokio::test]
async fn the_backends_socket_is_opened_over_tls_with_the_clients_trust_and_http1() {
    let (mock, ca_pem) = MockBackend::start_tls(true).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let untrusting = TestProxy::start(&mock).await;
    let mut socket = connect(&untrusting).await;
    send(&mut socket, &create(json!([user("one")]), json!({}))).await;
    let refused = answer(&mut socket).await;
    assert_eq!(refused[0]["status"], 502, "{refused:?}");
    let message = refused[0]["error"]["message"].as_str().unwrap();
    assert!(message.contains("TLS handshake failed"), "{message}");

    let proxy = TestProxy::start_with(&mock, |c| c.ca_file = Some(ca_file)).await;
    let mut socket = connect(&proxy).await;
    send(&mut socket, &create(json!([user("one")]), json!({}))).await;
    assert_eq!(answer(&mut socket).await, full_answer(&mock, 1, 1));
    let response = proxy.post("/v1/responses", &common::hello(false)).await;
    assert_eq!(response.status(), 200);
    // The upgrade is an HTTP/1.1 exchange; HTTP requests still get HTTP/2.
    let versions = mock.state.versions.lock().unwrap().clone();
    use axum::http::Version;
    assert_eq!(versions, vec![Version::HTTP_11, Version::HTTP_2]);
}
