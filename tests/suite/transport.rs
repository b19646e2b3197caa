//! How the proxy reaches the backend: TLS for an `https` backend, and the
//! HTTP proxy the environment names (`HTTPS_PROXY`, `HTTP_PROXY`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::time::Duration;

use common::process::{Child, binary};
use common::{MockBackend, TestProxy, hello, mock};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Reads from `stream` until `done` says the bytes so far are enough.
async fn read_until(stream: &mut TcpStream, done: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(Duration::from_secs(10), async {
        while !done(&seen) {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&seen));
            seen.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .expect("the proxy's bytes");
    seen
}

/// A TLS handshake record (type 22) carrying the ClientHello.
fn is_client_hello(bytes: &[u8]) -> bool {
    bytes.len() > 5 && bytes[0] == 0x16 && bytes[1] == 0x03 && bytes[5] == 0x01
}

/// The mock's CA written to a file for `ca_file`; the directory lives as long as the guard.
fn ca_file(pem: String) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ca.pem");
    std::fs::write(&path, pem).unwrap();
    (dir, path)
}

/// The proxy's worker threads with the default configuration.
fn workers() -> usize {
    codex_responses_proxy::config::Config::default().workers()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn an_https_backend_is_spoken_to_over_tls_and_a_failed_handshake_is_a_502_that_says_so() {
    let mock = MockBackend::start().await;
    let server = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = server.local_addr().unwrap().port();
    let proxy = TestProxy::start_with(&mock, |c| {
        c.upstream_url = format!("https://localhost:{port}/backend-api/codex")
            .parse()
            .unwrap();
    })
    .await;
    let seen = tokio::spawn(async move {
        let (mut stream, _) = server.accept().await.unwrap();
        // The record header and the handshake header: then the host name (SNI).
        let hello = read_until(&mut stream, |b| {
            is_client_hello(b) && contains(b, b"localhost")
        })
        .await;
        drop(stream);
        hello
    });
    let response = proxy.post("/v1/responses", &hello(false)).await;
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("could not be reached") && message.contains("TLS handshake failed"),
        "{message}"
    );
    assert!(is_client_hello(&seen.await.unwrap()));
}

#[tokio::test]
async fn with_https_proxy_set_an_https_backend_is_reached_through_a_connect_tunnel() {
    let mock = MockBackend::start().await;
    let home = tempfile::tempdir().unwrap();
    common::write_auth(home.path(), &mock.login(mock::now_secs() + 3600));
    let fake_proxy = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_addr = fake_proxy.local_addr().unwrap();
    let mut command = binary(home.path());
    command
        .env(
            "HTTPS_PROXY",
            format!("http://tunnel-user:tunnel-pw@{proxy_addr}"),
        )
        .args(["--listen", "127.0.0.1:0", "--log-target", "stderr"])
        .arg("--codex-home")
        .arg(home.path())
        .args([
            "--upstream-url",
            "https://backend.example:8443/backend-api/codex",
        ])
        .args(["--token-url", &mock.token_url()]);
    let child = Child::spawn(command);
    let base = format!("http://{}", child.address().await);

    let tunnel = tokio::spawn(async move {
        let (mut stream, _) = fake_proxy.accept().await.unwrap();
        let connect = read_until(&mut stream, |b| contains(b, b"\r\n\r\n")).await;
        stream
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await
            .unwrap();
        // Inside the tunnel, TLS to the backend's own name.
        let hello = read_until(&mut stream, |b| {
            is_client_hello(b) && contains(b, b"backend.example")
        })
        .await;
        (String::from_utf8_lossy(&connect).into_owned(), hello)
    });
    let response = reqwest::Client::new()
        .post(format!("{base}/v1/responses"))
        .json(&hello(false))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    let (connect, hello) = tunnel.await.unwrap();
    assert!(
        connect.starts_with("CONNECT backend.example:8443 HTTP/1.1\r\n"),
        "{connect}"
    );
    // tunnel-user:tunnel-pw
    assert!(
        connect.contains("dHVubmVsLXVzZXI6dHVubmVsLXB3"),
        "no proxy credentials in {connect}"
    );
    assert!(is_client_hello(&hello));
    let log = child.stop().await;
    assert!(!log.contains("tunnel-pw"), "{log}");
}

#[tokio::test]
async fn with_http_proxy_set_an_http_backend_is_asked_in_absolute_form_through_it() {
    // The mock stands in for the proxy: it answers requests in absolute form.
    let mock = MockBackend::start().await;
    let home = tempfile::tempdir().unwrap();
    common::write_auth(home.path(), &mock.login(mock::now_secs() + 3600));
    let mock_addr = mock.upstream_url();
    let mock_addr = mock_addr
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap();
    let mut command = binary(home.path());
    command
        .env("HTTP_PROXY", format!("http://{mock_addr}"))
        .args(["--listen", "127.0.0.1:0", "--log-target", "stderr"])
        .arg("--codex-home")
        .arg(home.path())
        .args(["--upstream-url", "http://backend.example/backend-api/codex"])
        .args(["--token-url", &mock.token_url()]);
    let child = Child::spawn(command);
    let base = format!("http://{}", child.address().await);
    let response = reqwest::Client::new()
        .post(format!("{base}/v1/responses"))
        .json(&hello(false))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "completed");
    assert_eq!(mock.responses_calls(), 1);
    assert_eq!(
        mock.last_seen().headers.get("host").unwrap(),
        "backend.example"
    );
    child.stop().await;
}

#[tokio::test]
async fn an_https_backend_signed_by_a_ca_from_ca_file_serves_collected_and_streamed_answers() {
    let (mock, ca_pem) = MockBackend::start_tls(false).await;
    let (_dir, ca_file) = ca_file(ca_pem);
    // An expired login: the token endpoint is reached over TLS first.
    let home = tempfile::tempdir().unwrap();
    common::write_auth(home.path(), &mock.login(mock::now_secs() - 10));
    let proxy = TestProxy::start_in(&mock, home, |c| c.ca_file = Some(ca_file)).await;
    assert!(mock.upstream_url().starts_with("https://localhost:"));

    let response = proxy.post("/v1/responses", &hello(false)).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "completed");
    let response = proxy.post("/v1/responses", &hello(true)).await;
    assert_eq!(response.status(), 200);
    let events = common::sse_data(&response.text().await.unwrap());
    assert_eq!(events.last().unwrap()["type"], "response.completed");
    assert_eq!(mock.responses_calls(), 2);
    assert_eq!(mock.refresh_calls(), 1);
    // One connection for the refresh; the backend's is kept and reused.
    assert!(mock.connections() <= 3, "{}", mock.connections());
}

#[tokio::test]
async fn without_ca_file_the_same_backend_is_refused_as_untrusted() {
    let (mock, _) = MockBackend::start_tls(false).await;
    let proxy = TestProxy::start(&mock).await;
    let response = proxy.post("/v1/responses", &hello(false)).await;
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("TLS handshake failed"), "{message}");
    assert_eq!(mock.responses_calls(), 0);
}

#[test]
fn a_ca_file_that_is_missing_or_holds_no_certificate_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = codex_responses_proxy::config::Config {
        codex_home: dir.path().to_path_buf(),
        ca_file: Some(dir.path().join("missing.pem")),
        ..Default::default()
    };
    let err = codex_responses_proxy::Daemon::new(config.clone())
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot read ca_file"), "{err}");
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    config.ca_file = Some(empty);
    let err = codex_responses_proxy::Daemon::new(config)
        .unwrap_err()
        .to_string();
    assert!(err.contains("holds no PEM certificate"), "{err}");
}

#[tokio::test]
async fn an_https_backend_offering_http2_gets_the_requests_of_each_worker_on_one_connection() {
    let (mock, ca_pem) = MockBackend::start_tls(true).await;
    let (_dir, ca_file) = ca_file(ca_pem);
    let proxy = TestProxy::start_with(&mock, |c| c.ca_file = Some(ca_file)).await;

    // Concurrent collected and streamed requests, then one more.
    let bodies: Vec<Value> = (0..8).map(|n| hello(n % 2 == 0)).collect();
    let requests = bodies.iter().map(|body| proxy.post("/v1/responses", body));
    for response in futures_util::future::join_all(requests).await {
        assert_eq!(response.status(), 200);
        let text = response.text().await.unwrap();
        assert!(text.contains("completed"), "{text}");
    }
    let response = proxy.post("/v1/responses", &hello(false)).await;
    assert_eq!(response.status(), 200);

    let versions = mock.state.versions.lock().unwrap().clone();
    assert_eq!(versions.len(), 9);
    assert!(
        versions.iter().all(|v| *v == axum::http::Version::HTTP_2),
        "{versions:?}"
    );
    // One multiplexed connection per worker thread at most.
    let workers = workers();
    assert!(
        mock.connections() <= workers,
        "{} connections for {workers} workers",
        mock.connections()
    );
}

#[tokio::test]
async fn a_client_leaving_an_http2_stream_early_cancels_only_its_stream() {
    let (mock, ca_pem) = MockBackend::start_tls(true).await;
    mock.set_default_answer(common::Answer::Stall {
        events: mock::text_answer("never finished", 2)[..2].to_vec(),
    });
    let (_dir, ca_file) = ca_file(ca_pem);
    let proxy = TestProxy::start_with(&mock, |c| c.ca_file = Some(ca_file)).await;
    let stalled = proxy.post("/v1/responses", &hello(true)).await;
    assert_eq!(stalled.status(), 200);
    drop(stalled);
    common::wait_until(
        Duration::from_secs(10),
        "the stream to be cancelled",
        || mock.streams_cancelled() == 1,
    )
    .await;
    // The connection it shared lives on: the next request uses it.
    mock.push_answer(common::Answer::Events {
        events: mock::text_answer("after", 1),
        pace: Duration::ZERO,
    });
    let response = proxy.post("/v1/responses", &hello(false)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(mock.responses_calls(), 2);
    let workers = workers();
    assert!(mock.connections() <= workers, "{}", mock.connections());
}
