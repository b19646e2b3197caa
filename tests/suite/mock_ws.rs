//! The mock backend's own tests, so the suites built on it can trust it:
//! its Responses WebSocket here (PROTOCOL.md §8), its HTTP side of §9-§12 in
//! `mock_ws/http.rs`. A plain WebSocket client talks to the mock directly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;
#[path = "mock_ws/http.rs"]
mod http;

use std::time::Duration;

use common::mock::{self, Handshake, Outcome, Received, WsAnswer};
use common::{MockBackend, wait_until};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const PATIENCE: Duration = Duration::from_secs(10);

/// The headers the current Codex CLI sends on its handshake, with a login
/// the mock accepts.
fn cli_headers(mock: &MockBackend) -> Vec<(&'static str, String)> {
    let login = mock.login(mock::now_secs() + 3600);
    let access = login["tokens"]["access_token"].as_str().unwrap();
    vec![
        ("openai-beta", mock::BETA.to_owned()),
        ("authorization", format!("Bearer {access}")),
        ("chatgpt-account-id", mock::ACCOUNT_ID.to_owned()),
        ("originator", "codex_cli_rs".to_owned()),
        ("session-id", "conv-1".to_owned()),
    ]
}

async fn try_connect(
    mock: &MockBackend,
    headers: &[(&'static str, String)],
) -> Result<Socket, WsError> {
    let mut request = mock.websocket_url().into_client_request().unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(*name, value.parse().unwrap());
    }
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(socket, _)| socket)
}

async fn connect(mock: &MockBackend) -> Socket {
    try_connect(mock, &cli_headers(mock)).await.unwrap()
}

/// A `response.create` as the CLI sends it, with `extra` fields merged in.
fn create(input: Value, extra: Value) -> Value {
    let mut frame = json!({
        "type": "response.create", "model": "gpt-5", "instructions": "Be brief.",
        "input": input, "tools": [], "store": false, "stream": true,
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

/// The next message other than a pong.
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

/// The frames of one answer, up to its `response.completed` or `error`.
async fn answer(socket: &mut Socket) -> Vec<Value> {
    let mut frames = Vec::new();
    while let Some(Message::Text(text)) = next(socket).await {
        let frame: Value = serde_json::from_str(text.as_str()).unwrap();
        let last = matches!(frame["type"].as_str(), Some("response.completed" | "error"));
        frames.push(frame);
        if last {
            break;
        }
    }
    frames
}

/// The `response.metadata` frame the mock opens turn `n` with.
fn metadata(mock: &MockBackend, n: usize) -> Value {
    let state = &mock.turn_states_issued()[n - 1];
    json!({"type": "response.metadata", "headers": {"x-codex-turn-state": state, "openai-model": "gpt-5"}})
}

#[tokio::test]
async fn a_prewarm_a_full_turn_and_an_incremental_turn_share_one_socket() {
    let mock = MockBackend::start().await;
    let mut socket = connect(&mock).await;
    send(
        &mut socket,
        &create(json!([user("one")]), json!({"generate": false})),
    )
    .await;
    let prewarm = answer(&mut socket).await;
    let mut expected = vec![metadata(&mock, 1)];
    expected.extend(mock::prewarm_answer("resp_ws_1_1"));
    assert_eq!(prewarm, expected);

    let previous = json!({"previous_response_id": "resp_ws_1_1"});
    send(&mut socket, &create(json!([]), previous)).await;
    let full = answer(&mut socket).await;
    let mut expected = vec![metadata(&mock, 2)];
    expected.extend(mock::text_answer_as(
        "resp_ws_1_2",
        "Hello from the mock.",
        4,
    ));
    assert_eq!(full, expected);

    let previous = json!({"previous_response_id": "resp_ws_1_2"});
    send(&mut socket, &create(json!([user("two")]), previous)).await;
    assert_eq!(
        answer(&mut socket).await.last().unwrap()["type"],
        "response.completed"
    );

    let seen = mock.last_seen();
    assert_eq!(seen.route, mock::Route::WebSocket { connection: 1 });
    assert_eq!(
        seen.history,
        vec![
            user("one"),
            mock::text_message("Hello from the mock."),
            user("two")
        ]
    );
    assert_eq!(seen.headers["session-id"], "conv-1");
    assert_eq!(mock.ws_connections(), 1);
    assert_eq!(mock.responses_calls(), 0);
    let handshakes = mock.ws_handshakes();
    assert_eq!(handshakes.len(), 1);
    assert_eq!(handshakes[0].outcome, Outcome::Accepted { connection: 1 });
    assert_eq!(handshakes[0].headers["openai-beta"], mock::BETA);
}

#[tokio::test]
async fn a_previous_response_id_unknown_to_this_socket_is_a_wrapped_400() {
    let mock = MockBackend::start().await;
    let mut first = connect(&mock).await;
    send(&mut first, &create(json!([user("one")]), json!({}))).await;
    assert_eq!(
        answer(&mut first).await.last().unwrap()["response"]["id"],
        "resp_ws_1_1"
    );

    let mut second = connect(&mock).await;
    let previous = json!({"previous_response_id": "resp_ws_1_1"});
    send(&mut second, &create(json!([user("two")]), previous)).await;
    assert_eq!(
        answer(&mut second).await,
        vec![json!({"type": "error", "status": 400, "error": {
            "type": "invalid_request_error", "code": "previous_response_not_found",
            "message": "Previous response with id 'resp_ws_1_1' not found."}})]
    );
    // The socket stays open for the full resend the client then makes.
    send(
        &mut second,
        &create(json!([user("one"), user("two")]), json!({})),
    )
    .await;
    assert_eq!(
        answer(&mut second).await.last().unwrap()["type"],
        "response.completed"
    );
    assert_eq!(mock.ws_connections(), 2);
}

#[tokio::test]
async fn the_http_body_rules_hold_for_a_response_create_frame() {
    let mock = MockBackend::start().await;
    let mut socket = connect(&mock).await;
    send(
        &mut socket,
        &create(json!([user("hi")]), json!({"store": true})),
    )
    .await;
    assert_eq!(
        answer(&mut socket).await,
        vec![json!({"type": "error", "status": 400, "error": {
            "type": "invalid_request_error", "message": "Store must be set to false"}})]
    );
    send(&mut socket, &create(json!("hi"), json!({}))).await;
    assert_eq!(
        answer(&mut socket).await[0]["error"]["message"],
        "Input must be a list"
    );
    send(&mut socket, &create(json!([user("hi")]), json!({}))).await;
    assert_eq!(
        answer(&mut socket).await.last().unwrap()["type"],
        "response.completed"
    );
}

#[tokio::test]
async fn a_refused_upgrade_answers_the_chosen_status_and_is_recorded() {
    let mock = MockBackend::start().await;
    mock.refuse_websocket(Some(426));
    let Err(WsError::Http(response)) = try_connect(&mock, &cli_headers(&mock)).await else {
        panic!("the upgrade was not refused");
    };
    assert_eq!(response.status(), 426);
    let refused: Vec<Outcome> = mock
        .ws_handshakes()
        .iter()
        .map(|h: &Handshake| h.outcome)
        .collect();
    assert_eq!(refused, vec![Outcome::Refused { status: 426 }]);
    assert_eq!(mock.ws_connections(), 0);

    mock.refuse_websocket(None);
    connect(&mock).await;
    assert_eq!(mock.ws_connections(), 1);
}

#[tokio::test]
async fn a_handshake_needs_the_beta_header_and_a_valid_login() {
    let mock = MockBackend::start().await;
    let status = |result: Result<Socket, WsError>| match result {
        Err(WsError::Http(response)) => response.status().as_u16(),
        Ok(_) => 101,
        Err(other) => panic!("{other}"),
    };
    let mut headers = cli_headers(&mock);
    headers.retain(|(name, _)| *name != "openai-beta");
    assert_eq!(status(try_connect(&mock, &headers).await), 400);
    headers.push(("openai-beta", mock::BETA_OLD.to_owned()));
    assert_eq!(status(try_connect(&mock, &headers).await), 101);
    let login = headers
        .iter()
        .position(|(name, _)| *name == "authorization");
    let login = login.unwrap();
    let valid = std::mem::replace(&mut headers[login].1, "Bearer not-a-login".to_owned());
    assert_eq!(status(try_connect(&mock, &headers).await), 401);
    headers[login].1 = valid;
    headers.retain(|(name, _)| *name != "originator");
    assert_eq!(status(try_connect(&mock, &headers).await), 403);
}

#[tokio::test]
async fn a_usage_limit_keeps_the_socket_and_the_connection_limit_closes_it() {
    let mock = MockBackend::start().await;
    let resets_at = mock::now_secs() + 600;
    mock.push_ws_answer(WsAnswer::usage_limit(resets_at));
    mock.push_ws_answer(WsAnswer::connection_limit());
    let mut socket = connect(&mock).await;
    send(&mut socket, &create(json!([user("one")]), json!({}))).await;
    let frames = answer(&mut socket).await;
    assert_eq!(
        frames,
        vec![metadata(&mock, 1), mock::usage_limit_error(resets_at)]
    );
    assert_eq!(frames[1]["error"]["resets_at"], resets_at);

    send(&mut socket, &create(json!([user("one")]), json!({}))).await;
    let frames = answer(&mut socket).await;
    assert_eq!(
        frames[1]["error"]["code"],
        "websocket_connection_limit_reached"
    );
    let Some(Message::Close(Some(close))) = next(&mut socket).await else {
        panic!("the socket was not closed");
    };
    assert_eq!(u16::from(close.code), 1000);
}

#[tokio::test]
async fn the_mock_can_close_mid_turn_and_sees_a_client_leave_mid_turn() {
    let mock = MockBackend::start().await;
    let head = mock::text_answer("unfinished", 2)[..3].to_vec();
    mock.push_ws_answer(WsAnswer::Close {
        events: head.clone(),
    });
    mock.push_ws_answer(WsAnswer::Stall {
        events: head.clone(),
    });
    let mut socket = connect(&mock).await;
    send(&mut socket, &create(json!([user("one")]), json!({}))).await;
    let mut received = Vec::new();
    for _ in 0..=head.len() {
        let Some(Message::Text(text)) = next(&mut socket).await else {
            panic!()
        };
        received.push(serde_json::from_str::<Value>(text.as_str()).unwrap());
    }
    assert_eq!(received, [vec![metadata(&mock, 1)], head.clone()].concat());
    let Some(Message::Close(Some(close))) = next(&mut socket).await else {
        panic!()
    };
    assert_eq!(u16::from(close.code), 1011);

    let mut socket = connect(&mock).await;
    send(&mut socket, &create(json!([user("one")]), json!({}))).await;
    for _ in 0..=head.len() {
        next(&mut socket).await.unwrap();
    }
    drop(socket);
    wait_until(PATIENCE, "the mock to see the client leave", || {
        mock.ws_abandoned() == 1 && mock.ws_open() == 0
    })
    .await;
}

#[tokio::test]
async fn pings_are_answered_and_legacy_frames_are_recorded_without_an_answer() {
    let mock = MockBackend::start().await;
    let mut socket = connect(&mock).await;
    socket
        .send(Message::Ping(b"are you there".to_vec().into()))
        .await
        .unwrap();
    let pong = tokio::time::timeout(PATIENCE, socket.next()).await.unwrap();
    assert_eq!(
        pong.unwrap().unwrap(),
        Message::Pong(b"are you there".to_vec().into())
    );
    let append = json!({"type": "response.append", "input": [user("more")]});
    let processed = json!({"type": "response.processed", "response_id": "resp_x"});
    send(&mut socket, &append).await;
    send(&mut socket, &processed).await;
    send(&mut socket, &create(json!([user("one")]), json!({}))).await;
    // The first frame back belongs to the create: the legacy frames got none.
    assert_eq!(answer(&mut socket).await[0], metadata(&mock, 1));
    let frames: Vec<Received> = mock.ws_frames().into_iter().map(|f| f.message).collect();
    assert_eq!(
        frames,
        vec![
            Received::Ping(b"are you there".to_vec()),
            Received::Json(append),
            Received::Json(processed),
            Received::Json(create(json!([user("one")]), json!({}))),
        ]
    );
}

#[tokio::test]
async fn a_compaction_trigger_on_the_socket_is_answered_with_one_compaction_item() {
    let mock = MockBackend::start().await;
    let mut socket = connect(&mock).await;
    let trigger = json!([user("one"), {"type": "compaction_trigger"}]);
    send(&mut socket, &create(trigger, json!({}))).await;
    let items = mock::output_items(&answer(&mut socket).await);
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["type"], "compaction");
    send(
        &mut socket,
        &create(json!([items[0].clone(), user("two")]), json!({})),
    )
    .await;
    assert_eq!(
        answer(&mut socket).await.last().unwrap()["type"],
        "response.completed"
    );
    assert_eq!(mock.compactions_accepted(), 1);
}

#[tokio::test]
async fn the_socket_works_over_tls_as_over_plain_http() {
    use rustls::pki_types::pem::PemObject;
    let (mock, ca_pem) = MockBackend::start_tls(true).await;
    let mut roots = rustls::RootCertStore::empty();
    let ca = rustls::pki_types::CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap();
    roots.add(ca).unwrap();
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(mock.addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector.connect(name, tcp).await.unwrap();
    let mut request = mock.websocket_url().into_client_request().unwrap();
    assert!(mock.websocket_url().starts_with("wss://localhost:"));
    for (name, value) in cli_headers(&mock) {
        request.headers_mut().insert(name, value.parse().unwrap());
    }
    let (mut socket, _) = tokio_tungstenite::client_async(request, tls).await.unwrap();
    socket
        .send(Message::text(
            create(json!([user("one")]), json!({})).to_string(),
        ))
        .await
        .unwrap();
    let Some(Ok(Message::Text(first))) = socket.next().await else {
        panic!("no answer over TLS");
    };
    assert_eq!(
        serde_json::from_str::<Value>(first.as_str()).unwrap(),
        metadata(&mock, 1)
    );
    assert_eq!(mock.ws_connections(), 1);
}
