//! zstd and gzip request bodies (PROTOCOL.md §12): read on every POST
//! route, bounded by `max_body_bytes` once decoded, refused when the
//! encoding is unknown, and forwarded compressed.

use std::io::Write;

use serde_json::{Value, json};

use codex_responses_proxy::config::upstream::UpstreamCompression;

use super::common::mock::Encoding;
use super::common::{MockBackend, TestProxy, hello};
use super::{legacy, user};

/// A line of this process's `/proc/self/status`, in bytes.
fn status_bytes(field: &str) -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    let kib: usize = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// Starts measuring the peak memory from now: resets the high-water mark
/// (`clear_refs` 5) and returns the memory in use.
fn measure_from_here() -> usize {
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    status_bytes("VmRSS:")
}

fn zstd(body: &Value) -> Vec<u8> {
    zstd::encode_all(&serde_json::to_vec(body).unwrap()[..], 3).unwrap()
}

fn gzip(body: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(body).unwrap();
    encoder.finish().unwrap()
}

/// POSTs `bytes` as a JSON body sent with `Content-Encoding: encoding`.
async fn post(proxy: &TestProxy, path: &str, encoding: &str, bytes: Vec<u8>) -> reqwest::Response {
    proxy
        .client
        .post(proxy.url(path))
        .header("content-type", "application/json")
        .header("content-encoding", encoding)
        .body(bytes)
        .send()
        .await
        .unwrap()
}

/// Every POST route with a body it accepts, and the body the backend gets.
fn routes() -> Vec<(&'static str, Value, Value)> {
    let chat = json!({"model": "gpt-5", "messages": [{"role": "user", "content": "Say hello"}]});
    let said = json!([user("Say hello")]);
    vec![
        ("/v1/responses", hello(true), said.clone()),
        ("/v1/chat/completions", chat, said.clone()),
        ("/v1/responses/compact", legacy(said.clone()), said),
    ]
}

#[tokio::test]
async fn zstd_and_gzip_bodies_are_read_on_every_post_route_and_forwarded_as_zstd() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    for (path, body, input) in routes() {
        let plain = serde_json::to_vec(&body).unwrap();
        for (name, bytes) in [("zstd", zstd(&body)), ("gzip", gzip(&plain))] {
            let response = post(&proxy, path, name, bytes).await;
            assert_eq!(response.status(), 200, "{path} {name}");
            response.bytes().await.unwrap();
            let seen = mock.last_seen();
            assert_eq!(
                (seen.encoding, &seen.body["input"]),
                (Some(Encoding::Zstd), &input),
                "{path} {name}"
            );
            assert!(
                seen.headers
                    .get("content-encoding")
                    .is_some_and(|v| v == "zstd")
            );
        }
        // A plain body goes compressed too, as the official client sends it.
        let response = proxy.post(path, &body).await;
        assert_eq!(response.status(), 200, "{path} plain");
        let seen = mock.last_seen();
        assert_eq!(
            (seen.encoding, &seen.body["input"]),
            (Some(Encoding::Zstd), &input),
            "{path} plain"
        );
    }
}

/// A Responses request the rules change nothing in, as an SDK sends it.
fn unchanged() -> String {
    // Spaces and key order a serializer would not keep: byte for byte or not.
    r#"{ "model": "gpt-5", "instructions": "mine", "stream": true, "store": false,
        "input": [ {"type": "message", "role": "user", "content": "Say hello"} ] }"#
        .to_owned()
}

#[tokio::test]
async fn an_unchanged_request_goes_as_it_came_its_own_zstd_bytes_or_plain_when_compression_is_off()
{
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let compressed = zstd::encode_all(unchanged().as_bytes(), 9).unwrap();
    let response = post(&proxy, "/v1/responses", "zstd", compressed.clone()).await;
    assert_eq!(response.status(), 200);
    response.bytes().await.unwrap();
    let seen = mock.last_seen();
    assert_eq!(seen.encoding, Some(Encoding::Zstd));
    assert_eq!(&seen.raw[..], &compressed[..], "recompressed");

    let plain = TestProxy::start_with(&mock, |c| {
        c.upstream_compression = UpstreamCompression::Off;
    })
    .await;
    for (encoding, bytes) in [("identity", unchanged().into_bytes()), ("zstd", compressed)] {
        let response = post(&plain, "/v1/responses", encoding, bytes).await;
        assert_eq!(response.status(), 200, "{encoding}");
        response.bytes().await.unwrap();
        let seen = mock.last_seen();
        assert_eq!(seen.encoding, None, "{encoding}");
        assert_eq!(&seen.raw[..], unchanged().as_bytes(), "{encoding}");
    }
}

#[tokio::test]
async fn a_backend_refusing_zstd_gets_the_request_again_plain_and_no_zstd_after_that() {
    for status in [415, 400] {
        let mock = MockBackend::start().await;
        *mock.state.refuse_encoded.lock().unwrap() =
            Some(axum::http::StatusCode::from_u16(status).unwrap());
        let proxy = TestProxy::start(&mock).await;
        for (path, body, input) in routes() {
            let response = proxy.post(path, &body).await;
            assert_eq!(response.status(), 200, "{status} {path}");
            response.bytes().await.unwrap();
            let seen = mock.last_seen();
            assert_eq!(
                (seen.encoding, &seen.body["input"]),
                (None, &input),
                "{status} {path}"
            );
        }
        let encodings: Vec<_> = mock
            .state
            .seen
            .lock()
            .unwrap()
            .iter()
            .map(|seen| seen.encoding)
            .collect();
        // The first request twice (refused compressed, then plain), the
        // others plain at once.
        assert_eq!(
            encodings,
            [Some(Encoding::Zstd), None, None, None],
            "{status}"
        );
    }
}

#[tokio::test]
async fn a_long_compressed_history_stays_compressed_on_the_way_to_the_backend() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let history: Vec<Value> = (0..2_000)
        .map(|i| {
            user(&format!(
                "turn {i}: the same long line of a long history, again and again"
            ))
        })
        .collect();
    let body = json!({"model": "gpt-5", "input": history, "stream": false});
    let compressed = zstd(&body);
    let plain_len = serde_json::to_vec(&body).unwrap().len();
    assert!(
        compressed.len() * 10 < plain_len,
        "{} of {plain_len}",
        compressed.len()
    );
    let response = post(&proxy, "/v1/responses", "zstd", compressed).await;
    assert_eq!(response.status(), 200);
    let seen = mock.last_seen();
    assert_eq!(seen.encoding, Some(Encoding::Zstd));
    assert_eq!(seen.body["input"], body["input"]);
}

/// The zstd frames a body is made of, read from their headers.
fn frames(mut zstd: &[u8]) -> usize {
    let mut count = 0;
    while !zstd.is_empty() {
        let size = zstd::zstd_safe::find_frame_compressed_size(zstd).unwrap();
        zstd = &zstd[size..];
        count += 1;
    }
    count
}

#[tokio::test]
async fn a_long_plain_history_goes_compressed_block_by_block_and_every_turn_decodes_to_its_history()
{
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let mut history: Vec<Value> = (0..7_000)
        .map(|i| user(&format!("turn {i}: {} and {}", i * 7919 % 10007, i * 31)))
        .collect();
    for turn in 0..3 {
        history.push(user(&format!("the next question, number {turn}")));
        let body = json!({"model": "gpt-5", "input": history, "stream": false, "store": false});
        let plain = serde_json::to_vec(&body).unwrap();
        assert!(plain.len() > 2 * 256 * 1024);
        let response = post(&proxy, "/v1/responses", "identity", plain.clone()).await;
        let status = response.status();
        assert_eq!(status, 200, "{}", response.text().await.unwrap());
        let seen = mock.last_seen();
        assert_eq!(seen.encoding, Some(Encoding::Zstd));
        // Block by block: frames a stock decoder reads as one body.
        assert!(frames(&seen.raw) > 1, "one frame");
        assert!(seen.raw.len() * 3 < plain.len());
        let sent: Value =
            serde_json::from_slice(&zstd::decode_all(&seen.raw[..]).unwrap()).unwrap();
        assert!(
            sent["input"] == body["input"],
            "the history changed on the way"
        );
    }
}

async fn error_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn a_compression_bomb_is_a_413_that_costs_no_large_allocation_and_reaches_no_backend() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start_with(&mock, |c| c.max_body_bytes = 1 << 20).await;
    // 256 MiB of zeros as zstd, 64 MiB as gzip: a few hundred kilobytes at most.
    let zeros = vec![0u8; 1 << 20];
    let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
    (0..256).for_each(|_| encoder.write_all(&zeros).unwrap());
    let zstd_bomb = encoder.finish().unwrap();
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    (0..64).for_each(|_| encoder.write_all(&zeros).unwrap());
    let gzip_bomb = encoder.finish().unwrap();
    drop(zeros);
    for (name, bomb) in [("zstd", zstd_bomb), ("gzip", gzip_bomb)] {
        let before = measure_from_here();
        let (status, body) = error_of(post(&proxy, "/v1/responses", name, bomb).await).await;
        let grown = status_bytes("VmHWM:").saturating_sub(before);
        assert_eq!(
            (status, body),
            (
                413,
                json!({"error": {
                "message": "the request body is larger than max_body_bytes (1048576 bytes) once decoded",
                "type": "invalid_request_error", "param": null, "code": "request_too_large"}})
            ),
            "{name}"
        );
        // Decoding either bomb would take 64 MiB or more; the other tests
        // of this file running meanwhile take a few.
        assert!(
            grown < 32 << 20,
            "{name}: the peak memory grew by {grown} bytes"
        );
    }
    assert_eq!(mock.responses_calls(), 0);
}

#[tokio::test]
async fn max_body_bytes_bounds_the_decoded_size_not_the_compressed_one() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start_with(&mock, |c| c.max_body_bytes = 64 * 1024).await;
    let body_of = |size: usize| {
        let mut body = hello(false);
        body["input"] = json!("x".repeat(size));
        body
    };
    let fits = body_of(60 * 1024);
    let response = post(&proxy, "/v1/responses", "zstd", zstd(&fits)).await;
    assert_eq!(response.status(), 200);
    let over = body_of(70 * 1024);
    let compressed = zstd(&over);
    assert!(compressed.len() < 4 * 1024);
    let (status, body) = error_of(post(&proxy, "/v1/responses", "zstd", compressed).await).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (413, json!("request_too_large"))
    );
    assert_eq!(mock.responses_calls(), 1);
}

#[tokio::test]
async fn an_unknown_encoding_is_a_415_and_a_broken_body_a_400_neither_forwarded() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let plain = serde_json::to_vec(&hello(false)).unwrap();
    for path in [
        "/v1/responses",
        "/v1/chat/completions",
        "/v1/responses/compact",
    ] {
        let (status, body) = error_of(post(&proxy, path, "br", plain.clone()).await).await;
        assert_eq!(
            (status, body),
            (
                415,
                json!({"error": {
                "message": "Content-Encoding \"br\" is not supported: send the body as it is, or as zstd or gzip",
                "type": "invalid_request_error", "param": null, "code": "unsupported_content_encoding"}})
            ),
            "{path}"
        );
        for name in ["zstd", "gzip"] {
            let (status, body) = error_of(post(&proxy, path, name, plain.clone()).await).await;
            assert_eq!(status, 400, "{path} {name}: {body}");
            let message = body["error"]["message"].as_str().unwrap();
            assert!(
                message.starts_with(&format!("the request body is not valid {name}: ")),
                "{message}"
            );
        }
    }
    assert_eq!((mock.responses_calls(), mock.compact_calls()), (0, 0));
}
