//! Malformed requests on both endpoints: every one gets a 4xx with an
//! OpenAI-shaped error saying what is wrong, and none reaches the backend.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{MockBackend, TestProxy};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ENDPOINTS: [&str; 2] = ["/v1/responses", "/v1/chat/completions"];

/// The limit used here, so that "huge" stays cheap.
const MAX_BODY: usize = 64 * 1024;

async fn start() -> (MockBackend, TestProxy) {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start_with(&mock, |c| c.max_body_bytes = MAX_BODY).await;
    (mock, proxy)
}

/// Asserts the OpenAI error shape with a message, and returns the error.
fn assert_openai_error(case: &str, status: u16, body: &[u8]) -> Value {
    assert!((400..500).contains(&status), "{case}: status {status}");
    let body: Value = serde_json::from_slice(body).unwrap_or_else(|e| {
        panic!(
            "{case}: not JSON ({e}): {:?}",
            String::from_utf8_lossy(body)
        )
    });
    let error = &body["error"];
    assert!(
        error["message"].as_str().is_some_and(|m| m.len() > 10),
        "{case}: {body}"
    );
    assert!(error["type"].is_string(), "{case}: {body}");
    assert!(error.get("code").is_some(), "{case}: {body}");
    error.clone()
}

/// Sends raw bytes on a fresh connection and returns the first answer's
/// status and body. `half_close` shuts the writing side after sending.
async fn raw(addr: SocketAddr, request: &[u8], half_close: bool) -> (u16, Vec<u8>) {
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    socket.write_all(request).await.unwrap();
    if half_close {
        socket.shutdown().await.unwrap();
    }
    let mut answer = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        let n = tokio::time::timeout(Duration::from_secs(10), socket.read(&mut buf))
            .await
            .expect("no answer within 10 s")
            .unwrap_or(0);
        assert!(
            n > 0,
            "connection closed: {:?}",
            String::from_utf8_lossy(&answer)
        );
        answer.extend_from_slice(&buf[..n]);
        if let Some(i) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&answer[..head_end]).to_ascii_lowercase();
    let status: u16 = head[9..12].parse().unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0);
    while answer.len() < head_end + length {
        let n = tokio::time::timeout(Duration::from_secs(10), socket.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "body cut short");
        answer.extend_from_slice(&buf[..n]);
    }
    (status, answer[head_end..head_end + length].to_vec())
}

fn post(path: &str, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut request =
        format!("POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{headers}\r\n")
            .into_bytes();
    request.extend_from_slice(body);
    request
}

fn json_post(path: &str, body: &[u8]) -> Vec<u8> {
    post(
        path,
        &format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ),
        body,
    )
}

/// Bodies that are not a JSON object at all.
fn broken_bodies() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("empty body", b"".to_vec()),
        (
            "truncated object",
            b"{\"model\": \"gpt-5\", \"input\": ".to_vec(),
        ),
        ("trailing garbage", b"{\"model\": \"gpt-5\"} x".to_vec()),
        ("single quotes", b"{'model': 'gpt-5'}".to_vec()),
        ("a bare string", b"\"hello\"".to_vec()),
        ("an array", b"[1, 2, 3]".to_vec()),
        ("null", b"null".to_vec()),
        ("100k opening brackets", vec![b'['; 100_000]),
        ("deeply nested objects", b"{\"a\":".repeat(10_000)),
        (
            "invalid UTF-8",
            b"{\"model\": \"gpt-5\xff\xfe\", \"input\": \"hi\"}".to_vec(),
        ),
        (
            "a lone surrogate",
            br#"{"model": "gpt-5", "input": "\ud800"}"#.to_vec(),
        ),
        ("NUL bytes", b"\0\0\0\0".to_vec()),
        ("a number too large", b"{\"model\": 1e999999}".to_vec()),
    ]
}

#[tokio::test]
async fn bodies_that_are_not_a_json_object_are_refused_on_both_endpoints() {
    let (mock, proxy) = start().await;
    for path in ENDPOINTS {
        for (case, body) in broken_bodies() {
            let (status, answer) = raw(proxy.addr, &json_post(path, &body), false).await;
            let error = assert_openai_error(&format!("{path}: {case}"), status, &answer);
            assert_eq!(error["type"], "invalid_request_error", "{case}");
        }
    }
    assert_eq!(mock.responses_calls(), 0);
}

#[tokio::test]
async fn a_huge_body_is_a_413_before_it_is_read_or_forwarded() {
    let (mock, proxy) = start().await;
    let huge = json!({"model": "gpt-5", "input": "x".repeat(4 * MAX_BODY),
                      "messages": [{"role": "user", "content": "y".repeat(MAX_BODY)}]});
    for path in ENDPOINTS {
        let response = proxy.post(path, &huge).await;
        assert_eq!(response.status(), 413);
        let body = response.bytes().await.unwrap();
        let error = assert_openai_error(path, 413, &body);
        assert_eq!(error["code"], "request_too_large");
    }
    assert_eq!(mock.responses_calls(), 0);
}

#[tokio::test]
async fn a_huge_chunked_body_is_a_413_the_client_still_reads_while_sending() {
    let (mock, proxy) = start().await;
    for path in ENDPOINTS {
        // No Content-Length: the limit is found while reading, and the rest
        // of the body (1 MiB in all) is still on its way when the refusal is sent.
        let mut request = format!(
            "POST {path} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
             transfer-encoding: chunked\r\n\r\n"
        )
        .into_bytes();
        for _ in 0..64 {
            request.extend_from_slice(b"4000\r\n");
            request.extend_from_slice(&[b' '; 0x4000]);
            request.extend_from_slice(b"\r\n");
        }
        request.extend_from_slice(b"0\r\n\r\n");
        let (status, body) = raw(proxy.addr, &request, false).await;
        assert_eq!(status, 413);
        let error = assert_openai_error(path, 413, &body);
        assert_eq!(error["code"], "request_too_large");
    }
    assert_eq!(mock.responses_calls(), 0);
}

/// Each field `/v1/responses` reads, with values of the wrong type.
fn responses_wrong_types() -> Vec<(&'static str, Value)> {
    let mut cases = Vec::new();
    let bad: [(&str, Vec<Value>); 9] = [
        (
            "model",
            vec![json!(5), json!([]), json!({}), json!(true), json!("")],
        ),
        ("input", vec![json!(5), json!({}), json!(true), Value::Null]),
        ("stream", vec![json!("yes"), json!(1), json!([]), json!({})]),
        ("store", vec![json!("no"), json!(0), json!([]), json!({})]),
        (
            "instructions",
            vec![json!(5), json!([]), json!({}), json!(true)],
        ),
        (
            "tools",
            vec![json!("all"), json!({}), json!(5), json!(true)],
        ),
        (
            "include",
            vec![json!("all"), json!({}), json!(5), json!(true)],
        ),
        (
            "reasoning",
            vec![json!("high"), json!([]), json!(5), json!(true)],
        ),
        (
            "text",
            vec![json!("json"), json!([]), json!(5), json!(true)],
        ),
    ];
    for (field, values) in bad {
        for value in values {
            let mut body = json!({"model": "gpt-5", "input": "hi"});
            body[field] = value;
            cases.push((field, body));
        }
    }
    cases
}

/// Each field `/v1/chat/completions` reads, with values of the wrong type.
fn chat_wrong_types() -> Vec<(&'static str, Value)> {
    let mut cases = Vec::new();
    let bad: [(&str, Vec<Value>); 6] = [
        ("model", vec![json!(5), json!([]), json!({}), json!(true)]),
        (
            "messages",
            vec![
                json!("hi"),
                json!({}),
                json!([]),
                json!(5),
                json!([5]),
                json!([{"role": 5, "content": "hi"}]),
                json!([{"role": "wizard", "content": "hi"}]),
                json!([{"role": "user", "content": 5}]),
            ],
        ),
        ("stream", vec![json!("yes"), json!(1), json!([])]),
        ("stream_options", vec![json!({"include_usage": "yes"})]),
        ("tools", vec![json!("all"), json!({}), json!(5)]),
        ("n", vec![json!(0), json!(2), json!("one")]),
    ];
    for (field, values) in bad {
        for value in values {
            let mut body =
                json!({"model": "gpt-5", "messages": [{"role": "user", "content": "hi"}]});
            body[field] = value;
            cases.push((field, body));
        }
    }
    cases.push((
        "model",
        json!({"messages": [{"role": "user", "content": "hi"}]}),
    ));
    cases.push(("messages", json!({"model": "gpt-5"})));
    cases
}

#[tokio::test]
async fn wrong_types_for_every_field_read_are_a_400_naming_the_field() {
    let (mock, proxy) = start().await;
    for (path, cases) in [
        ("/v1/responses", responses_wrong_types()),
        ("/v1/chat/completions", chat_wrong_types()),
    ] {
        for (field, body) in cases {
            let response = proxy.post(path, &body).await;
            let status = response.status().as_u16();
            let answer = response.bytes().await.unwrap();
            let case = format!("{path} {body}");
            let error = assert_openai_error(&case, status, &answer);
            assert_eq!(status, 400, "{case}");
            assert!(
                error["message"].as_str().unwrap().contains(field),
                "{case}: {error}"
            );
        }
    }
    assert_eq!(mock.responses_calls(), 0);
}

#[tokio::test]
async fn odd_framing_and_headers_are_refused_without_reaching_the_backend() {
    let (mock, proxy) = start().await;
    let body =
        br#"{"model": "gpt-5", "input": "hi", "messages": [{"role": "user", "content": "hi"}]}"#;
    for path in ENDPOINTS {
        let cases: Vec<(&str, Vec<u8>, bool)> = vec![
            (
                "a form content type",
                post(
                    path,
                    &format!(
                        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
                        body.len()
                    ),
                    body,
                ),
                false,
            ),
            (
                "a text content type",
                post(
                    path,
                    &format!(
                        "Content-Type: text/plain\r\nContent-Length: {}\r\n",
                        body.len()
                    ),
                    body,
                ),
                false,
            ),
            (
                "a Content-Length longer than the body",
                post(
                    path,
                    "Content-Type: application/json\r\nContent-Length: 5000\r\n",
                    body,
                ),
                true,
            ),
            (
                "a Content-Length shorter than the body",
                post(
                    path,
                    "Content-Type: application/json\r\nContent-Length: 12\r\n",
                    body,
                ),
                false,
            ),
            (
                "a chunk with a bad size",
                post(
                    path,
                    "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n",
                    b"zz\r\n{\"model\"\r\n0\r\n\r\n",
                ),
                false,
            ),
            (
                "a chunk longer than announced",
                post(
                    path,
                    "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n",
                    b"2\r\n{\"model\": \"gpt-5\"}\r\n0\r\n\r\n",
                ),
                false,
            ),
            (
                "a chunked body cut short",
                post(
                    path,
                    "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n",
                    b"100\r\n{\"model\"",
                ),
                true,
            ),
        ];
        for (case, request, half_close) in cases {
            let (status, answer) = raw(proxy.addr, &request, half_close).await;
            assert_openai_error(&format!("{path}: {case}"), status, &answer);
        }
    }
    assert_eq!(mock.responses_calls(), 0);
}

#[tokio::test]
async fn unparsable_request_heads_are_refused_by_the_http_layer() {
    let (mock, proxy) = start().await;
    // These never reach a route: the HTTP parser refuses them itself, with a
    // bare 4xx (it has no body to say more).
    let cases: [&[u8]; 4] = [
        b"POST /v1/responses HTTP/1.1\r\nHost: localhost\r\nContent-Length: abc\r\n\r\n{}",
        b"POST /v1/responses HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        b"POST /v1/responses HTTP/1.1\r\nHost: localhost\r\nBad Header Name: 1\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n",
    ];
    for request in cases {
        let (status, _) = raw(proxy.addr, request, false).await;
        assert!(
            (400..500).contains(&status),
            "{:?}: {status}",
            String::from_utf8_lossy(request)
        );
    }
    assert_eq!(mock.responses_calls(), 0);
    let response = proxy.post("/v1/responses", &common::hello(false)).await;
    assert_eq!(response.status(), 200);
}
