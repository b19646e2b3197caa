//! The proxy's own failures on a WebSocket, each a wrapped `error` frame
//! with the status the HTTP path answers with; the login refreshed after a
//! 401 on the backend's handshake; pings, legacy frames, a plain GET; and
//! an open socket counted as activity; a frame over the limit or of the
//! wrong kind closed with the code RFC 6455 gives it.

use super::*;
use codex_responses_proxy::Daemon;
use codex_responses_proxy::http::Listener;

/// The wrapped error frame a turn gets for our own failure.
fn wrapped(status: u16, kind: &str, code: &str) -> impl Fn(&Value) {
    let (kind, code) = (kind.to_owned(), code.to_owned());
    move |frame: &Value| {
        assert_eq!(frame["type"], "error", "{frame}");
        assert_eq!(frame["status"], status, "{frame}");
        assert_eq!(frame["error"]["type"], kind.as_str(), "{frame}");
        assert_eq!(frame["error"]["code"], code.as_str(), "{frame}");
        assert!(
            frame["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
}

#[tokio::test]
async fn without_a_login_a_turn_gets_a_wrapped_401_and_the_socket_stays() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    std::fs::remove_file(proxy.auth_path()).unwrap();
    let mut socket = connect(&proxy).await;
    send(&mut socket, &create(json!([user("one")]), json!({}))).await;
    let frames = answer(&mut socket).await;
    assert_eq!(frames.len(), 1);
    wrapped(401, "authentication_error", "codex_login_required")(&frames[0]);
    assert_eq!(mock.ws_handshakes().len(), 0);

    // Logged in again, the same socket works.
    common::write_auth(proxy.home.path(), &mock.login(mock::now_secs() + 3600));
    send(&mut socket, &create(json!([user("one")]), json!({}))).await;
    assert_eq!(answer(&mut socket).await, full_answer(&mock, 1, 1));
}

#[tokio::test]
async fn a_backend_that_cannot_be_reached_is_a_wrapped_502() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start_with(&mock, |c| {
        c.upstream_url = common::closed_url().parse().unwrap();
    })
    .await;
    let mut socket = connect(&proxy).await;
    send(&mut socket, &create(json!([user("one")]), json!({}))).await;
    let frames = answer(&mut socket).await;
    assert_eq!(frames.len(), 1);
    wrapped(502, "upstream_error", "bad_gateway")(&frames[0]);
    assert!(
        frames[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("connection refused"),
        "{}",
        frames[0]
    );
}

#[tokio::test]
async fn a_backend_silent_past_idle_timeout_is_a_wrapped_504_and_its_socket_is_closed() {
    let mock = MockBackend::start().await;
    let head = mock::text_answer("stuck", 2)[..2].to_vec();
    mock.push_ws_answer(WsAnswer::Stall { events: head });
    let proxy = TestProxy::start_with(&mock, |c| {
        c.idle_timeout = Duration::from_millis(500);
    })
    .await;
    let mut socket = connect(&proxy).await;
    send(&mut socket, &create(json!([user("one")]), json!({}))).await;
    let frames = answer(&mut socket).await;
    assert_eq!(frames.len(), 4, "{frames:?}");
    wrapped(504, "upstream_error", "upstream_idle_timeout")(&frames[3]);
    wait_until(PATIENCE, "the stalled socket to be closed", || {
        mock.ws_open() == 0
    })
    .await;
    send(&mut socket, &create(json!([user("one")]), json!({}))).await;
    assert_eq!(answer(&mut socket).await, full_answer(&mock, 2, 1));
}

#[tokio::test]
async fn a_401_on_the_backends_handshake_refreshes_the_login_and_retries_once() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let first = proxy.read_auth();
    mock.revoke(first["tokens"]["access_token"].as_str().unwrap());
    let mut socket = connect(&proxy).await;
    send(&mut socket, &create(json!([user("one")]), json!({}))).await;
    assert_eq!(answer(&mut socket).await, full_answer(&mock, 1, 1));
    assert_eq!(mock.refresh_calls(), 1);
    let outcomes: Vec<Outcome> = mock.ws_handshakes().iter().map(|h| h.outcome).collect();
    assert_eq!(
        outcomes,
        vec![
            Outcome::Refused { status: 401 },
            Outcome::Accepted { connection: 1 }
        ]
    );
    assert_ne!(proxy.read_auth()["tokens"], first["tokens"]);
}

#[tokio::test]
async fn pings_are_answered_and_legacy_frames_reach_the_backends_socket() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let mut socket = connect(&proxy).await;
    socket
        .send(Message::Ping(b"still there?".to_vec().into()))
        .await
        .unwrap();
    let pong = tokio::time::timeout(PATIENCE, socket.next()).await.unwrap();
    assert_eq!(
        pong.unwrap().unwrap(),
        Message::Pong(b"still there?".to_vec().into())
    );
    // Before any request there is no backend socket to tell.
    let early = json!({"type": "response.processed", "response_id": "resp_0"});
    send(&mut socket, &early).await;
    send(&mut socket, &create(json!([user("one")]), json!({}))).await;
    answer(&mut socket).await;
    let append = json!({"type": "response.append", "input": [user("more")]});
    let processed = json!({"type": "response.processed", "response_id": "resp_ws_1_1"});
    send(&mut socket, &append).await;
    send(&mut socket, &processed).await;
    wait_until(PATIENCE, "the legacy frames to reach the backend", || {
        let frames = mock.ws_frames();
        let json: Vec<&Value> = frames
            .iter()
            .filter_map(|f| match &f.message {
                mock::Received::Json(v) => Some(v),
                _ => None,
            })
            .collect();
        json.len() == 3 && json[1] == &append && json[2] == &processed
    })
    .await;
    // Neither got an answer: the next frame belongs to the next request.
    send(&mut socket, &create(json!([user("two")]), json!({}))).await;
    assert_eq!(next_frame(&mut socket).await["type"], "response.metadata");
}

#[tokio::test]
async fn a_plain_get_is_a_405_that_points_to_post_or_an_upgrade() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    for path in ["/v1/responses", "/responses"] {
        let response = proxy.get(path).await;
        assert_eq!(response.status(), 405);
        assert_eq!(response.headers()["allow"], "POST");
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body,
            json!({"error": {"type": "invalid_request_error", "code": "method_not_allowed",
                "param": null, "message": format!("GET is not allowed on {path} except as a \
                WebSocket upgrade (the Responses WebSocket); send a request with POST")}})
        );
    }
}

#[tokio::test]
async fn an_open_socket_counts_as_activity_until_it_closes() {
    let mock = MockBackend::start().await;
    let home = tempfile::tempdir().unwrap();
    common::write_auth(home.path(), &mock.login(mock::now_secs() + 3600));
    let daemon = Daemon::new(common::config_for(&mock, home.path())).unwrap();
    let activity = daemon.state().activity().clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _serving =
        tokio::spawn(daemon.serve(vec![Listener::Tcp(listener)], std::future::pending()));

    let url = format!("ws://{addr}/v1/responses");
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    wait_until(PATIENCE, "the socket to count as in flight", || {
        activity.in_flight() == 1
    })
    .await;
    assert_eq!(activity.idle_for(), Duration::ZERO);
    send(&mut socket, &create(json!([user("one")]), json!({}))).await;
    answer(&mut socket).await;
    assert_eq!(activity.in_flight(), 1, "an idle socket is still open");
    socket.close(None).await.unwrap();
    wait_until(PATIENCE, "the closed socket to leave", || {
        activity.in_flight() == 0
    })
    .await;
}

/// The close code the proxy ended the socket with, after `frames` of text.
async fn closed_with(socket: &mut Socket) -> (Vec<Value>, Option<u16>) {
    let mut frames = Vec::new();
    loop {
        match next(socket).await {
            Some(Message::Text(text)) => frames.push(serde_json::from_str(&text).unwrap()),
            Some(Message::Close(close)) => return (frames, close.map(|c| u16::from(c.code))),
            Some(other) => panic!("unexpected {other:?}"),
            None => return (frames, None),
        }
    }
}

#[tokio::test]
async fn a_frame_over_the_limit_gets_an_error_naming_the_limit_and_closes_with_1009() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start_with(&mock, |c| c.max_body_bytes = 64 * 1024).await;
    let mut socket = connect(&proxy).await;
    let big = "x".repeat(100 * 1024);
    send(&mut socket, &create(json!([user(&big)]), json!({}))).await;
    let (frames, code) = closed_with(&mut socket).await;
    assert_eq!(code, Some(1009));
    let [frame] = frames.as_slice() else {
        panic!("one error frame expected: {frames:?}");
    };
    wrapped(400, "invalid_request_error", "message_too_big")(frame);
    let message = frame["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("limit of 65536 bytes (max_body_bytes)"),
        "{message}"
    );
    assert_eq!(mock.ws_connections(), 0);
}

#[tokio::test]
async fn a_binary_frame_gets_an_error_and_closes_with_1003() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let mut socket = connect(&proxy).await;
    socket
        .send(Message::Binary(
            b"{\"type\":\"response.create\"}".to_vec().into(),
        ))
        .await
        .unwrap();
    let (frames, code) = closed_with(&mut socket).await;
    assert_eq!(code, Some(1003));
    assert_eq!(frames.len(), 1, "{frames:?}");
    wrapped(400, "invalid_request_error", "unsupported_data")(&frames[0]);
}
