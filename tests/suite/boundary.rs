//! What a web page may send to the daemon: requests written byte by byte, so
//! that the test, not an HTTP client, chooses `Host` and `Origin`. A page on
//! a domain that rebinds to 127.0.0.1 sends its own name as `Host`; a page
//! of another site sends its `Origin`. Neither may reach the backend.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::time::Duration;

use codex_responses_proxy::Daemon;
use codex_responses_proxy::http::Listener;
use common::process::binary;
use common::raw::{Answer, exchange, request, tcp};
use common::{MockBackend, TestProxy, hello, mock};
use serde_json::{Value, json};

fn chat() -> Value {
    json!({"model": "gpt-5", "messages": [{"role": "user", "content": "Say hello"}]})
}

/// A route as a web page would reach it: method, path, body, extra headers.
type Route = (
    &'static str,
    &'static str,
    Option<Value>,
    Vec<(&'static str, &'static str)>,
);

/// Every route, the WebSocket handshake on `/v1/responses` among them.
fn routes() -> Vec<Route> {
    vec![
        ("POST", "/v1/responses", Some(hello(false)), vec![]),
        ("POST", "/v1/chat/completions", Some(chat()), vec![]),
        ("GET", "/v1/models", None, vec![]),
        ("GET", "/healthz", None, vec![]),
        // The status page and what its script reads.
        ("GET", "/", None, vec![]),
        ("GET", "/status", None, vec![]),
        ("GET", "/v1/status", None, vec![]),
        (
            "GET",
            "/v1/responses",
            None,
            vec![
                ("connection", "Upgrade"),
                ("upgrade", "websocket"),
                ("sec-websocket-version", "13"),
                ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ],
        ),
    ]
}

/// The OpenAI-shaped refusal: only the message, which names the setting, varies.
fn assert_refused(answer: &Answer, code: &str, setting: &str, what: &str) {
    assert_eq!(answer.status, 403, "{what}: {answer:?}");
    let body = answer.json();
    let message = body["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains(setting), "{what}: {message}");
    assert_eq!(
        body,
        json!({"error": {"message": message, "type": "invalid_request_error",
            "param": null, "code": code}}),
        "{what}"
    );
    assert_eq!(answer.header("access-control-allow-origin"), None, "{what}");
}

fn assert_backend_untouched(mock: &MockBackend) {
    assert_eq!(mock.connections(), 0);
    assert_eq!(mock.responses_calls(), 0);
    assert_eq!(
        mock.state
            .models_calls
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    assert_eq!(mock.refresh_calls(), 0);
}

#[tokio::test]
async fn a_rebinding_host_is_refused_on_every_route_and_nothing_reaches_the_backend() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let rebound = format!("evil.example:{}", proxy.addr.port());
    let page = format!("http://{rebound}");
    for (method, path, body, extra) in routes() {
        for with_origin in [true, false] {
            let mut headers = vec![("host", rebound.as_str())];
            if with_origin {
                headers.push(("origin", page.as_str()));
            }
            headers.extend(extra.iter().copied());
            let answer = tcp(proxy.addr, &request(method, path, &headers, body.as_ref())).await;
            let what = format!("{method} {path} origin={with_origin}");
            assert_refused(&answer, "host_not_allowed", "allowed_hosts", &what);
        }
    }
    // On the Anthropic route the refusal is in Anthropic's shape.
    let answer = tcp(
        proxy.addr,
        &request(
            "POST",
            "/v1/messages?beta=true",
            &[("host", &rebound)],
            Some(&json!({})),
        ),
    )
    .await;
    assert_eq!(answer.status, 403);
    let message = answer.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("allowed_hosts"), "{message}");
    assert_eq!(
        answer.json(),
        json!({"type": "error", "error": {"type": "permission_error", "message": message}})
    );
    // No Host at all is no better.
    let answer = tcp(proxy.addr, "GET /healthz HTTP/1.1\r\n\r\n").await;
    assert_refused(&answer, "host_not_allowed", "allowed_hosts", "no Host");
    assert_backend_untouched(&mock);
}

#[tokio::test]
async fn a_foreign_origin_is_refused_on_every_route_and_the_websocket_handshake() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start_with(&mock, |c| {
        c.allowed_origins = vec!["http://localhost:3000".into()];
    })
    .await;
    let host = proxy.addr.to_string();
    for origin in ["https://evil.example", "http://localhost:3001", "null"] {
        for (method, path, body, extra) in routes() {
            let mut headers = vec![("host", host.as_str()), ("origin", origin)];
            headers.extend(extra.iter().copied());
            let answer = tcp(proxy.addr, &request(method, path, &headers, body.as_ref())).await;
            let what = format!("{method} {path} from {origin}");
            assert_refused(&answer, "origin_not_allowed", "allowed_origins", &what);
        }
        let preflight = [
            ("host", host.as_str()),
            ("origin", origin),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "content-type"),
        ];
        let answer = tcp(
            proxy.addr,
            &request("OPTIONS", "/v1/responses", &preflight, None),
        )
        .await;
        assert_refused(&answer, "origin_not_allowed", "allowed_origins", origin);
    }
    assert_backend_untouched(&mock);
}

/// The headers of a preflight from `origin` to `host`.
fn preflight_from<'a>(host: &'a str, origin: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("host", host),
        ("origin", origin),
        ("access-control-request-method", "POST"),
        (
            "access-control-request-headers",
            "authorization,content-type,openai-beta",
        ),
    ]
}

#[tokio::test]
async fn an_allowed_origin_gets_a_preflight_and_its_request_answered_with_cors_headers() {
    let mock = MockBackend::start().await;
    let origin = "http://localhost:3000";
    let proxy = TestProxy::start_with(&mock, |c| c.allowed_origins = vec![origin.into()]).await;
    let host = proxy.addr.to_string();

    let answer = tcp(
        proxy.addr,
        &request(
            "OPTIONS",
            "/v1/responses",
            &preflight_from(&host, origin),
            None,
        ),
    )
    .await;
    assert_eq!(answer.status, 204, "{answer:?}");
    assert_eq!(answer.header("access-control-allow-origin"), Some(origin));
    assert_eq!(
        answer.header("access-control-allow-methods"),
        Some("GET, POST, OPTIONS")
    );
    let allowed = answer.header("access-control-allow-headers").unwrap();
    for name in [
        "authorization",
        "content-type",
        "openai-beta",
        "x-api-key",
        "anthropic-version",
    ] {
        assert!(
            allowed.split(", ").any(|n| n == name),
            "{name} in {allowed}"
        );
    }
    assert!(answer.all("vary").contains(&"origin"), "{answer:?}");
    assert_eq!(answer.header("access-control-allow-credentials"), None);
    assert_eq!(mock.connections(), 0);

    let headers = [("host", host.as_str()), ("origin", origin)];
    let answer = tcp(
        proxy.addr,
        &request("POST", "/v1/responses", &headers, Some(&hello(false))),
    )
    .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.header("access-control-allow-origin"), Some(origin));
    assert!(answer.all("vary").contains(&"origin"), "{answer:?}");
    let exposed = answer.header("access-control-expose-headers").unwrap();
    assert!(exposed.contains("x-proxy-request-id"), "{exposed}");
    assert_eq!(
        answer.json()["output"],
        json!([mock::text_message("Hello from the mock.")])
    );
    assert_eq!(mock.responses_calls(), 1);

    // A client without an Origin (a CLI, an SDK) gets no CORS headers.
    let answer = tcp(
        proxy.addr,
        &request("GET", "/healthz", &[("host", &host)], None),
    )
    .await;
    assert_eq!((answer.status, answer.body.as_str()), (200, "ok"));
    assert_eq!(answer.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn an_allowed_origin_still_needs_the_client_key() {
    let mock = MockBackend::start().await;
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("client.key");
    std::fs::write(&key_file, "sk-client-key-77\n").unwrap();
    let origin = "http://localhost:3000";
    let proxy = TestProxy::start_with(&mock, |c| {
        c.allowed_origins = vec![origin.into()];
        c.api_key_file = Some(key_file);
    })
    .await;
    let host = proxy.addr.to_string();

    // Browsers send preflights without credentials: they are answered.
    let answer = tcp(
        proxy.addr,
        &request(
            "OPTIONS",
            "/v1/responses",
            &preflight_from(&host, origin),
            None,
        ),
    )
    .await;
    assert_eq!(answer.status, 204, "{answer:?}");

    let without = [("host", host.as_str()), ("origin", origin)];
    let answer = tcp(
        proxy.addr,
        &request("POST", "/v1/responses", &without, Some(&hello(false))),
    )
    .await;
    assert_eq!(answer.status, 401, "{answer:?}");
    assert_eq!(answer.json()["error"]["code"], "invalid_api_key");
    // The page may read why.
    assert_eq!(answer.header("access-control-allow-origin"), Some(origin));
    assert_eq!(mock.responses_calls(), 0);

    let with = [
        ("host", host.as_str()),
        ("origin", origin),
        ("authorization", "Bearer sk-client-key-77"),
    ];
    let answer = tcp(
        proxy.addr,
        &request("POST", "/v1/responses", &with, Some(&hello(false))),
    )
    .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.header("access-control-allow-origin"), Some(origin));
}

#[tokio::test]
async fn allowed_hosts_entries_let_their_names_through_and_a_star_lets_all() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start_with(&mock, |c| {
        c.allowed_hosts = vec!["proxy.lan".into(), "gateway:8443".into()];
    })
    .await;
    let port = proxy.addr.port();
    let served = [
        "localhost".to_owned(),
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("127.9.9.9:{port}"),
        format!("[::1]:{port}"),
        "proxy.lan".to_owned(),
        format!("PROXY.lan:{port}"),
        "gateway:8443".to_owned(),
    ];
    for host in &served {
        let answer = tcp(
            proxy.addr,
            &request("GET", "/healthz", &[("host", host)], None),
        )
        .await;
        assert_eq!((answer.status, answer.body.as_str()), (200, "ok"), "{host}");
    }
    for host in [
        "gateway",
        "gateway:8787",
        "proxy.lan.evil.example",
        "evil.example",
    ] {
        let answer = tcp(
            proxy.addr,
            &request("GET", "/healthz", &[("host", host)], None),
        )
        .await;
        assert_refused(&answer, "host_not_allowed", "allowed_hosts", host);
    }
    let headers = [("host", "proxy.lan")];
    let answer = tcp(
        proxy.addr,
        &request("POST", "/v1/responses", &headers, Some(&hello(false))),
    )
    .await;
    assert_eq!(answer.status, 200, "{answer:?}");

    let open = TestProxy::start_with(&mock, |c| c.allowed_hosts = vec!["*".into()]).await;
    let answer = tcp(
        open.addr,
        &request("GET", "/healthz", &[("host", "evil.example")], None),
    )
    .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    // The Origin check stays on.
    let page = [("host", "evil.example"), ("origin", "http://evil.example")];
    let answer = tcp(open.addr, &request("GET", "/healthz", &page, None)).await;
    assert_refused(&answer, "origin_not_allowed", "allowed_origins", "star");
}

#[tokio::test]
async fn over_a_unix_socket_any_host_is_served_and_a_foreign_origin_is_not() {
    let mock = MockBackend::start().await;
    let home = tempfile::tempdir().unwrap();
    common::write_auth(home.path(), &mock.login(mock::now_secs() + 3600));
    let socket = home.path().join("proxy.sock");
    let listener = tokio::net::UnixListener::bind(&socket).unwrap();
    let daemon = Daemon::new(common::config_for(&mock, home.path())).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(daemon.serve(vec![Listener::Unix(listener)], async {
        let _ = stopped.await;
    }));
    let unix = |request: String| {
        let socket = socket.clone();
        async move {
            exchange(
                tokio::net::UnixStream::connect(&socket).await.unwrap(),
                &request,
            )
            .await
        }
    };

    for host in ["evil.example:8787", "localhost", "proxy.sock"] {
        let answer = unix(request("GET", "/healthz", &[("host", host)], None)).await;
        assert_eq!((answer.status, answer.body.as_str()), (200, "ok"), "{host}");
    }
    let answer = unix(request("GET", "/healthz", &[], None)).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let answer = unix(request(
        "POST",
        "/v1/responses",
        &[("host", "evil.example")],
        Some(&hello(false)),
    ))
    .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(
        answer.json()["output"],
        json!([mock::text_message("Hello from the mock.")])
    );
    assert_eq!(mock.responses_calls(), 1);
    // A reverse proxy may pass a browser's request on over the socket.
    let page = [("host", "localhost"), ("origin", "https://evil.example")];
    let answer = unix(request("POST", "/v1/responses", &page, Some(&hello(false)))).await;
    assert_refused(&answer, "origin_not_allowed", "allowed_origins", "unix");
    assert_eq!(mock.responses_calls(), 1);

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(30), served)
        .await
        .unwrap()
        .unwrap();
}

#[test]
fn print_config_shows_both_settings_from_the_environment_and_flags() {
    let home = tempfile::tempdir().unwrap();
    let output = binary(home.path())
        .env(
            "CODEX_RESPONSES_PROXY_ALLOWED_ORIGINS",
            r#"["http://localhost:3000", "chrome-extension://abcdef"]"#,
        )
        .args([
            "--allowed-host",
            "proxy.lan",
            "--allowed-host",
            "[fd00::1]:8443",
        ])
        .arg("--print-config")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let printed: toml::Value = toml::from_str(&String::from_utf8(output.stdout).unwrap()).unwrap();
    assert_eq!(
        printed["allowed_hosts"],
        toml::Value::try_from(["proxy.lan", "[fd00::1]:8443"]).unwrap()
    );
    assert_eq!(
        printed["allowed_origins"],
        toml::Value::try_from(["http://localhost:3000", "chrome-extension://abcdef"]).unwrap()
    );

    let output = binary(home.path())
        .env("CODEX_RESPONSES_PROXY_ALLOWED_ORIGINS", "*")
        .arg("--print-config")
        .output()
        .unwrap();
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("`allowed_origins`") && stderr.contains("environment"),
        "{stderr}"
    );
}

#[test]
fn doctor_shows_both_settings_and_warns_when_the_host_check_is_off() {
    let home = tempfile::tempdir().unwrap();
    let closed = common::closed_url();
    let output = binary(home.path())
        .arg("doctor")
        .args([
            "--allowed-host",
            "*",
            "--allowed-origin",
            "http://localhost:3000",
        ])
        .args(["--upstream-url", &closed, "--token-url", &closed])
        .output()
        .unwrap();
    let report = String::from_utf8(output.stdout).unwrap();
    assert!(report.contains("allowed_hosts = [\"*\"]"), "{report}");
    assert!(
        report.contains("allowed_origins = [\"http://localhost:3000\"]"),
        "{report}"
    );
    assert!(
        report.contains("! allowed_hosts contains \"*\": the Host check is off"),
        "{report}"
    );
    assert!(
        report.contains(
            "web pages from these origins may use the proxy, with CORS: http://localhost:3000"
        ),
        "{report}"
    );
}
