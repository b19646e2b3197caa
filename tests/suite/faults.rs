//! What the proxy does when something around it fails: the backend (refused,
//! reset, stalled, malformed, HTML, oversized events), the token endpoint
//! (silent, 500, garbage), auth.json (deleted, truncated, replaced, not
//! writable), slow clients, and a stop signal during many open streams. After
//! each fault the proxy must still serve the next request.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{Answer, MockBackend, TestProxy, TokenAnswer, hello, mock, sse_data, wait_until};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LIMIT: Duration = Duration::from_secs(10);

/// Asserts that a collected request goes through: the proxy recovered.
async fn serves_the_next_request(proxy: &TestProxy) {
    let response = proxy.post("/v1/responses", &hello(false)).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["output"],
        json!([mock::text_message("Hello from the mock.")])
    );
}

/// The `error` object of an OpenAI-shaped error answer.
async fn error_of(response: reqwest::Response) -> Value {
    let body: Value = response.json().await.unwrap();
    body["error"].clone()
}

/// The last data payload of a streamed answer.
async fn last_event(response: reqwest::Response) -> Value {
    let text = response.text().await.unwrap();
    sse_data(&text).pop().expect("no event in the stream")
}

fn streaming() -> Value {
    hello(true)
}

/// A TCP forwarder to `target` on `listener`, so that a test can take the
/// backend's address away (connection refused) and give it back.
fn forward(listener: tokio::net::TcpListener, target: SocketAddr) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                if let Ok(mut server) = tokio::net::TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    })
}

#[tokio::test]
async fn a_backend_refusing_connections_is_a_502_and_the_proxy_recovers_when_it_is_back() {
    let mock = MockBackend::start().await;
    let gate = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gate_addr = gate.local_addr().unwrap();
    drop(gate);
    let proxy = TestProxy::start_with(&mock, |c| {
        c.upstream_url = format!("http://{gate_addr}/backend-api/codex")
            .parse()
            .unwrap();
    })
    .await;

    let response = proxy.post("/v1/responses", &hello(false)).await;
    assert_eq!(response.status(), 502);
    let error = error_of(response).await;
    assert_eq!(error["type"], "upstream_error");
    assert!(error["message"].as_str().unwrap().contains("Codex backend"));
    let response = proxy.post("/v1/responses", &streaming()).await;
    assert_eq!(response.status(), 502);
    assert_eq!(mock.responses_calls(), 0);

    // The backend comes back on the same address.
    let gate = tokio::net::TcpListener::bind(gate_addr).await.unwrap();
    let forwarder = forward(gate, mock.addr);
    serves_the_next_request(&proxy).await;
    forwarder.abort();
}

#[tokio::test]
async fn a_backend_resetting_mid_stream_ends_the_stream_with_an_error_event() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let head: Vec<Value> = mock::text_answer("Hello", 2).into_iter().take(4).collect();

    mock.push_answer(Answer::Vanish {
        events: head.clone(),
    });
    let response = proxy.post("/v1/responses", &streaming()).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let events = sse_data(&text);
    assert_eq!(events[..4], head[..]);
    assert_eq!(events[4]["type"], "error");
    assert_eq!(events[4]["code"], "upstream_stream_broken");
    assert_eq!(events.len(), 5);

    mock.push_answer(Answer::Vanish { events: head });
    let response = proxy.post("/v1/responses", &hello(false)).await;
    assert_eq!(response.status(), 502);
    assert_eq!(error_of(response).await["code"], "upstream_stream_broken");

    serves_the_next_request(&proxy).await;
}

#[tokio::test]
async fn a_stalled_backend_meets_the_idle_timeout() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start_with(&mock, |c| c.idle_timeout = Duration::from_millis(300)).await;
    let head: Vec<Value> = mock::text_answer("Hello", 2).into_iter().take(2).collect();

    mock.push_answer(Answer::Stall {
        events: head.clone(),
    });
    let started = std::time::Instant::now();
    let response = proxy.post("/v1/responses", &hello(false)).await;
    assert_eq!(response.status(), 504);
    assert_eq!(
        error_of(response).await,
        json!({"message": "no event from the Codex backend for 300ms", "type": "upstream_error",
               "code": "upstream_idle_timeout", "param": null})
    );
    assert!(started.elapsed() < LIMIT);

    mock.push_answer(Answer::Stall { events: head });
    let event = last_event(proxy.post("/v1/responses", &streaming()).await).await;
    assert_eq!(event["type"], "error");
    assert_eq!(event["code"], "upstream_idle_timeout");
    // The proxy went away from the stalled upstream stream.
    wait_until(LIMIT, "the stalled streams to be dropped", || {
        mock.streams_cancelled() >= 2
    })
    .await;

    serves_the_next_request(&proxy).await;
}

/// A valid stream with malformed lines spliced in before the terminal event.
fn with_garbage(garbage: &str) -> String {
    let mut body = String::new();
    for event in mock::text_answer("Hello from the mock.", 2) {
        if event["type"] == "response.completed" {
            body.push_str(garbage);
        }
        let kind = event["type"].as_str().unwrap();
        body.push_str(&format!("event: {kind}\ndata: {event}\n\n"));
    }
    body
}

#[tokio::test]
async fn malformed_event_lines_are_skipped_when_a_valid_terminal_event_follows() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let garbage = [
        "data: {not json\n\n",
        "a line without a colon\n\n",
        "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\"\r\n\n",
        "\r\r\n\r\n",
        "data: \u{0}\u{1}\u{7f}\u{fffd}\u{ff}\u{10ffff}\n\n",
        ": a comment\nid: 7\nretry: x\n\n",
        "event: response.output_text.delta\ndata: [1,2,3]\n\n",
    ]
    .concat();
    for stream in [false, true] {
        mock.push_answer(Answer::Raw {
            body: with_garbage(&garbage),
        });
        let response = proxy.post("/v1/responses", &hello(stream)).await;
        assert_eq!(response.status(), 200, "stream: {stream}");
        if stream {
            let text = response.text().await.unwrap();
            assert_eq!(
                sse_data(&text).last().unwrap()["type"],
                "response.completed"
            );
        } else {
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["status"], "completed");
            assert_eq!(
                body["output"],
                json!([mock::text_message("Hello from the mock.")])
            );
        }
    }
    serves_the_next_request(&proxy).await;
}

#[tokio::test]
async fn a_stream_of_only_garbage_fails_cleanly() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let garbage = "data: {not json\n\nno colon here\n\n\u{0}\u{1}\u{2}binary\u{fffd}\n\n";

    mock.push_answer(Answer::Raw {
        body: garbage.into(),
    });
    let response = proxy.post("/v1/responses", &hello(false)).await;
    assert_eq!(response.status(), 502);
    assert_eq!(
        error_of(response).await,
        json!({"message": "the Codex backend closed the stream before response.completed",
               "type": "upstream_error", "code": "upstream_stream_incomplete", "param": null})
    );

    mock.push_answer(Answer::Raw {
        body: garbage.into(),
    });
    let event = last_event(proxy.post("/v1/responses", &streaming()).await).await;
    assert_eq!(event["code"], "upstream_stream_incomplete");

    serves_the_next_request(&proxy).await;
}

#[tokio::test]
async fn a_200_with_an_html_page_is_a_502_that_names_the_content_type() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    for stream in [false, true] {
        mock.push_answer(Answer::Status {
            status: 200,
            body: "<!DOCTYPE html><html><body>Just a moment...</body></html>".into(),
            content_type: "text/html; charset=utf-8",
            headers: vec![],
        });
        let response = proxy.post("/v1/responses", &hello(stream)).await;
        assert_eq!(response.status(), 502);
        let error = error_of(response).await;
        assert_eq!(error["type"], "upstream_error");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains("text/html"), "{message}");
        assert!(!message.contains("Just a moment"), "{message}");
    }
    serves_the_next_request(&proxy).await;
}

#[tokio::test]
async fn an_event_larger_than_max_event_bytes_is_a_502_or_a_final_error_event() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start_with(&mock, |c| c.max_event_bytes = 4096).await;
    let huge = "x".repeat(10_000);
    for stream in [false, true] {
        mock.push_answer(Answer::Events {
            events: mock::text_answer(&huge, 1),
            pace: Duration::ZERO,
        });
        let response = proxy.post("/v1/responses", &hello(stream)).await;
        if stream {
            assert_eq!(response.status(), 200);
            let event = last_event(response).await;
            assert_eq!(event["type"], "error");
            assert_eq!(event["code"], "upstream_event_too_large");
        } else {
            assert_eq!(response.status(), 502);
            assert_eq!(error_of(response).await["code"], "upstream_event_too_large");
        }
    }
    serves_the_next_request(&proxy).await;
}

/// A proxy whose login has expired, so that the first request refreshes it.
async fn proxy_with_expired_login(mock: &MockBackend, idle: Duration) -> TestProxy {
    let home = tempfile::tempdir().unwrap();
    common::write_auth(home.path(), &mock.login(mock::now_secs() - 10));
    TestProxy::start_in(mock, home, |c| c.idle_timeout = idle).await
}

#[tokio::test]
async fn a_silent_token_endpoint_times_out_and_the_next_refresh_works() {
    let mock = MockBackend::start().await;
    // The refresh gives up after the idle timeout (at most 30 s).
    let proxy = proxy_with_expired_login(&mock, Duration::from_millis(500)).await;
    mock.push_token_answer(TokenAnswer::Hang);
    let started = std::time::Instant::now();
    let response = proxy.post("/v1/responses", &hello(false)).await;
    assert!(started.elapsed() < LIMIT);
    assert_eq!(response.status(), 502);
    let error = error_of(response).await;
    assert_eq!(error["code"], "token_refresh_failed");
    assert_eq!(mock.responses_calls(), 0);

    serves_the_next_request(&proxy).await;
    assert_eq!(mock.refresh_calls(), 2);
}

#[tokio::test]
async fn a_token_endpoint_answering_500_is_a_503_and_the_next_refresh_works() {
    let mock = MockBackend::start().await;
    let proxy = proxy_with_expired_login(&mock, Duration::from_secs(5)).await;
    mock.push_token_answer(TokenAnswer::Status {
        status: 500,
        body: "internal error".into(),
    });
    let response = proxy.post("/v1/responses", &hello(false)).await;
    assert_eq!(response.status(), 503);
    assert_eq!(error_of(response).await["code"], "token_refresh_failed");
    serves_the_next_request(&proxy).await;
}

#[tokio::test]
async fn a_token_endpoint_answering_garbage_is_a_502_and_the_login_survives() {
    let mock = MockBackend::start().await;
    let proxy = proxy_with_expired_login(&mock, Duration::from_secs(5)).await;
    let before = std::fs::read(proxy.auth_path()).unwrap();
    for garbage in ["<html>oops</html>", "{\"access_token\": 7}", "\u{0}\u{1}"] {
        mock.push_token_answer(TokenAnswer::Status {
            status: 200,
            body: garbage.into(),
        });
        let response = proxy.post("/v1/responses", &hello(false)).await;
        assert_eq!(response.status(), 502, "{garbage}");
        assert_eq!(error_of(response).await["code"], "token_refresh_failed");
        assert_eq!(std::fs::read(proxy.auth_path()).unwrap(), before);
    }
    serves_the_next_request(&proxy).await;
}

/// Opens a slow streaming request and waits until the backend has it.
async fn open_slow_stream(
    mock: &MockBackend,
    proxy: &TestProxy,
) -> tokio::task::JoinHandle<String> {
    let calls = mock.responses_calls();
    mock.push_answer(Answer::Events {
        events: mock::text_answer("Hello from the mock.", 8),
        pace: Duration::from_millis(40),
    });
    let request = proxy
        .client
        .post(proxy.url("/v1/responses"))
        .json(&streaming());
    let task = tokio::spawn(async move { request.send().await.unwrap().text().await.unwrap() });
    wait_until(LIMIT, "the backend to get the request", || {
        mock.responses_calls() > calls
    })
    .await;
    task
}

fn completed(text: &str) -> bool {
    sse_data(text)
        .last()
        .is_some_and(|e| e["type"] == "response.completed")
}

#[tokio::test]
async fn deleting_auth_json_lets_streams_finish_then_asks_for_codex_login_until_restored() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let saved = std::fs::read(proxy.auth_path()).unwrap();
    let in_flight = open_slow_stream(&mock, &proxy).await;

    std::fs::remove_file(proxy.auth_path()).unwrap();
    let response = proxy.post("/v1/responses", &hello(false)).await;
    assert_eq!(response.status(), 401);
    let error = error_of(response).await;
    assert_eq!(error["type"], "authentication_error");
    assert_eq!(error["code"], "codex_login_required");
    assert!(
        error["message"].as_str().unwrap().contains("codex login"),
        "{error}"
    );
    assert!(completed(&in_flight.await.unwrap()));

    std::fs::write(proxy.auth_path(), saved).unwrap();
    serves_the_next_request(&proxy).await;
}

#[tokio::test]
async fn a_truncated_auth_json_is_a_clear_401_until_it_is_whole_again() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let saved = std::fs::read(proxy.auth_path()).unwrap();
    let in_flight = open_slow_stream(&mock, &proxy).await;

    for cut in [0, 1, saved.len() / 2] {
        std::fs::write(proxy.auth_path(), &saved[..cut]).unwrap();
        let response = proxy.post("/v1/responses", &hello(false)).await;
        assert_eq!(response.status(), 401, "cut at {cut}");
        let error = error_of(response).await;
        assert_eq!(error["code"], "codex_login_required");
        assert!(
            error["message"].as_str().unwrap().contains("codex login"),
            "{error}"
        );
    }
    assert!(completed(&in_flight.await.unwrap()));

    std::fs::write(proxy.auth_path(), saved).unwrap();
    serves_the_next_request(&proxy).await;
}

#[tokio::test]
async fn a_replaced_auth_json_is_used_from_the_next_request_without_restart() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let old = proxy.read_auth();
    let in_flight = open_slow_stream(&mock, &proxy).await;

    let new = mock.login(mock::now_secs() + 3600);
    mock.revoke(old["tokens"]["access_token"].as_str().unwrap());
    common::write_auth(proxy.home.path(), &new);
    assert!(completed(&in_flight.await.unwrap()));

    serves_the_next_request(&proxy).await;
    let bearer = format!("Bearer {}", new["tokens"]["access_token"].as_str().unwrap());
    assert_eq!(mock.last_seen().headers["authorization"], bearer.as_str());
    assert_eq!(mock.refresh_calls(), 0);
}

#[tokio::test]
async fn a_disk_refusing_the_write_back_keeps_the_old_file_and_saves_later() {
    let mock = MockBackend::start().await;
    let proxy = proxy_with_expired_login(&mock, Duration::from_secs(5)).await;
    let before = std::fs::read(proxy.auth_path()).unwrap();
    let real = std::fs::canonicalize(proxy.auth_path()).unwrap();
    // Occupying the temporary file's name makes the write fail, even for root.
    let blocker = codex_responses_proxy::auth::file::temp_path(&real);
    std::fs::create_dir(&blocker).unwrap();

    serves_the_next_request(&proxy).await;
    assert_eq!(mock.refresh_calls(), 1);
    assert_eq!(std::fs::read(proxy.auth_path()).unwrap(), before);
    // The refreshed tokens are used from memory, not refreshed again.
    serves_the_next_request(&proxy).await;
    assert_eq!(mock.refresh_calls(), 1);

    std::fs::remove_dir(&blocker).unwrap();
    serves_the_next_request(&proxy).await;
    assert_eq!(mock.refresh_calls(), 1);
    let saved = proxy.read_auth();
    let bearer = format!(
        "Bearer {}",
        saved["tokens"]["access_token"].as_str().unwrap()
    );
    assert_eq!(mock.last_seen().headers["authorization"], bearer.as_str());
    assert_ne!(std::fs::read(proxy.auth_path()).unwrap(), before);
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let mock = MockBackend::start().await;
    let timeout = Duration::from_millis(500);
    let proxy = TestProxy::start_with(&mock, |c| c.header_read_timeout = timeout).await;
    let mut socket = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
    socket
        .write_all(b"POST /v1/responses HTTP/1.1\r\nHost: loc")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut rest = Vec::new();
    // The server closes the connection (possibly after a 408); a read of 0
    // bytes or a reset both mean it is gone.
    let read = tokio::time::timeout(LIMIT, socket.read_to_end(&mut rest)).await;
    let elapsed = started.elapsed();
    assert!(
        read.is_ok(),
        "the connection was still open after {LIMIT:?}"
    );
    assert!(
        elapsed >= timeout - Duration::from_millis(50),
        "{elapsed:?}"
    );
    let head = String::from_utf8_lossy(&rest);
    assert!(
        head.is_empty() || head.starts_with("HTTP/1.1 408"),
        "{head}"
    );
    assert_eq!(mock.responses_calls(), 0);
    serves_the_next_request(&proxy).await;
}

#[tokio::test]
async fn a_body_over_max_body_bytes_is_a_413_and_not_forwarded() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start_with(&mock, |c| c.max_body_bytes = 1024).await;
    let big = json!({"model": "gpt-5", "input": "x".repeat(2000)});
    let response = proxy.post("/v1/responses", &big).await;
    assert_eq!(response.status(), 413);
    assert_eq!(
        error_of(response).await,
        json!({"message": "the request body is larger than max_body_bytes (1024 bytes)",
               "type": "invalid_request_error", "code": "request_too_large", "param": null})
    );
    // Without a Content-Length, the limit holds while reading.
    let mut socket = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
    let mut request = b"POST /v1/responses HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    for _ in 0..4 {
        request.extend_from_slice(b"200\r\n");
        request.extend_from_slice(&[b' '; 512]);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    socket.write_all(&request).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(LIMIT, socket.read_to_end(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert_eq!(mock.responses_calls(), 0);
    serves_the_next_request(&proxy).await;
}

#[tokio::test]
async fn a_stop_during_100_open_streams_lets_all_of_them_finish() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    mock.set_default_answer(Answer::Events {
        events: mock::text_answer("Hello from the mock.", 8),
        pace: Duration::from_millis(50),
    });
    let streams: Vec<_> = (0..100)
        .map(|_| {
            let request = proxy
                .client
                .post(proxy.url("/v1/responses"))
                .json(&streaming());
            tokio::spawn(async move { request.send().await.unwrap().text().await.unwrap() })
        })
        .collect();
    wait_until(LIMIT, "100 open streams", || mock.responses_calls() == 100).await;
    let addr = proxy.addr;
    let started = std::time::Instant::now();
    proxy.shutdown().await;
    // Shutdown waited for the streams, well within the 10 s grace period.
    assert!(started.elapsed() < Duration::from_secs(10));
    for stream in streams {
        let text = stream.await.unwrap();
        assert!(completed(&text), "{text}");
    }
    assert_eq!(mock.streams_cancelled(), 0);
    // No new connections once stopped.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
