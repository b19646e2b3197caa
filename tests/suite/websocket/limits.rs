//! Usage limits on a WebSocket: the backend's `codex.rate_limits` frames and
//! its wrapped `usage_limit_reached` reach the client untouched and feed the
//! login's limits, and the next turn is answered locally, on the same
//! socket, until the reset.

use super::*;

#[tokio::test]
async fn a_wrapped_usage_limit_passes_through_and_the_next_turn_is_refused_locally() {
    let mock = MockBackend::start().await;
    let resets_at = mock::now_secs() + 600;
    mock.push_ws_answer(WsAnswer::usage_limit(resets_at));
    mock.set_rate_limits_event(Some(mock::rate_limits_event(100.0, resets_at)));
    let proxy = TestProxy::start(&mock).await;
    let mut socket = connect(&proxy).await;
    send(&mut socket, &create(json!([user("one")]), json!({}))).await;
    assert_eq!(
        answer(&mut socket).await,
        vec![
            metadata(&mock, 1),
            mock::rate_limits_event(100.0, resets_at),
            mock::usage_limit_error(resets_at)
        ]
    );

    // What the frames said is the login's state (the usage endpoint, which
    // status asks too, answers nothing it can read here).
    *mock.state.usage.lock().unwrap() = json!("unavailable");
    let status: Value = proxy.get("/v1/status").await.json().await.unwrap();
    let primary = &status["limits"]["families"][0]["primary"];
    assert_eq!(primary["used_percent"], 100.0, "{status}");
    assert!(status["cooldown"]["resets_at"].is_string(), "{status}");

    // The next turn never reaches the backend: a wrapped 429 with the time
    // left, on the same socket.
    send(&mut socket, &create(json!([user("two")]), json!({}))).await;
    let refused = answer(&mut socket).await;
    let [frame] = refused.as_slice() else {
        panic!("one frame expected: {refused:?}");
    };
    assert_eq!(
        (frame["type"].clone(), frame["status"].clone()),
        (json!("error"), json!(429)),
        "{frame}"
    );
    assert_eq!(frame["error"]["code"], "usage_limit_reached");
    let retry: u64 = frame["headers"]["retry-after"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=600).contains(&retry), "{retry}");
    let creates = mock
        .ws_frames()
        .into_iter()
        .filter(|f| matches!(&f.message, mock::Received::Json(v) if v["type"] == "response.create"))
        .count();
    assert_eq!((creates, mock.ws_connections()), (1, 1));
}

#[tokio::test]
async fn a_turn_after_the_reset_reaches_the_backend_again() {
    let mock = MockBackend::start().await;
    mock.push_ws_answer(WsAnswer::usage_limit(mock::now_secs() + 2));
    let proxy = TestProxy::start(&mock).await;
    let mut socket = connect(&proxy).await;
    send(&mut socket, &create(json!([user("one")]), json!({}))).await;
    assert_eq!(answer(&mut socket).await.last().unwrap()["status"], 429);

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        send(&mut socket, &create(json!([user("one")]), json!({}))).await;
        let frames = answer(&mut socket).await;
        if frames.last().unwrap()["type"] == "response.completed" {
            break;
        }
        assert_eq!(
            frames.last().unwrap()["error"]["code"],
            "usage_limit_reached"
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "no answer after the reset"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(mock.ws_connections(), 1);
}
