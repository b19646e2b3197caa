//! Where the daemon stands, asked two ways: `GET /v1/status` (JSON) and the
//! `status` subcommand against a running daemon over TCP and its Unix socket.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Output;

use jiff::Timestamp;
use serde_json::{Value, json};

use common::mock::{now_secs, rate_limits_event};
use common::process::{Child, binary};
use common::{Answer, MockBackend, TestProxy, closed_url, hello, write_auth};

const KEY: &str = "sk-status-client-key-0b7e";

/// RFC 3339, as the report writes times.
fn rfc3339(second: i64) -> Value {
    json!(Timestamp::from_second(second).unwrap().to_string())
}

/// The reset time the mock announces in its primary header.
fn mock_reset_at(mock: &MockBackend) -> i64 {
    let headers = mock.state.rate_limit_headers.lock().unwrap();
    let (_, value) = headers
        .iter()
        .find(|(k, _)| k == "x-codex-primary-reset-at")
        .unwrap();
    value.parse().unwrap()
}

fn usage_limit_answer(resets_at: i64) -> Answer {
    Answer::Status {
        status: 429,
        body: json!({"error": {"type": "usage_limit_reached",
            "message": "You've hit your usage limit.", "resets_at": resets_at}})
        .to_string(),
        content_type: "application/json",
        headers: Vec::new(),
    }
}

async fn status_json(proxy: &TestProxy) -> Value {
    let response = proxy.get("/v1/status").await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn status_tells_the_login_its_limits_and_the_activity_as_json() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let reset_at = mock_reset_at(&mock);
    assert_eq!(
        proxy.post("/v1/responses", &hello(false)).await.status(),
        200
    );

    let status = status_json(&proxy).await;
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(status["listeners"], json!([proxy.addr.to_string()]));
    assert_eq!(status["activation"], "own");
    assert_eq!(status["in_flight"], json!({"requests": 0, "streams": 0}));
    let expires = status["login"]["token_expires_at"].as_str().unwrap();
    let expires: Timestamp = expires.parse().unwrap();
    assert!((now_secs() + 3590..=now_secs() + 3600).contains(&expires.as_second()));
    assert_eq!(
        status["login"],
        json!({"usable": true, "error": null, "account_id": "acc-test-1",
            "email": "dev@example.com", "plan": "plus",
            "token_expires_at": expires.to_string(),
            "last_refresh": "2026-11-01T10:00:00.123456Z", "last_refresh_error": null})
    );
    // The answer's headers, then the usage endpoint asked for this status.
    let limits = &status["limits"];
    assert_eq!(limits["source"], "usage_endpoint");
    assert_eq!(limits["plan"], "plus");
    assert_eq!(
        limits["families"],
        json!([{"id": "codex", "name": null, "limit_reached": false,
            "primary": {"used_percent": 12.0, "window_minutes": 300, "resets_at": rfc3339(reset_at)},
            "secondary": {"used_percent": 3.0, "window_minutes": 10080,
                "resets_at": rfc3339(reset_at + 86_400)}}])
    );
    assert_eq!(
        limits["credits"],
        json!({"has_credits": true, "unlimited": false, "balance": "12.00"})
    );
    assert_eq!(status["cooldown"], Value::Null);
    assert_eq!(status["usage_endpoint"]["error"], Value::Null);
    assert!(status["usage_endpoint"]["fetched_at"].is_string());
    assert_eq!(status["models_cache_age_seconds"], Value::Null);
    assert_eq!(mock.usage_calls(), 1);

    // Within a minute the usage endpoint is not asked again.
    assert_eq!(proxy.get("/v1/models").await.status(), 200);
    let status = status_json(&proxy).await;
    assert_eq!(mock.usage_calls(), 1);
    assert_eq!(status["models_cache_age_seconds"], 0);
}

#[tokio::test]
async fn in_stream_rate_limit_events_and_a_broken_usage_endpoint_show_in_status() {
    let mock = MockBackend::start().await;
    let reset_at = now_secs() + 5_000;
    mock.set_rate_limits_event(Some(rate_limits_event(47.5, reset_at)));
    *mock.state.usage.lock().unwrap() = json!("down for maintenance");
    let proxy = TestProxy::start(&mock).await;
    let streamed = proxy.post("/v1/responses", &hello(true)).await;
    assert!(streamed.text().await.unwrap().contains("codex.rate_limits"));

    let status = status_json(&proxy).await;
    assert_eq!(status["limits"]["source"], "event");
    assert_eq!(
        status["limits"]["families"][0]["primary"],
        json!({"used_percent": 47.5, "window_minutes": 300, "resets_at": rfc3339(reset_at)})
    );
    assert_eq!(
        status["usage_endpoint"],
        json!({"fetched_at": null, "error": "the usage endpoint answered with something other \
            than usage (a login or challenge page?)"})
    );
}

#[tokio::test]
async fn a_cooldown_and_a_missing_login_show_in_status() {
    let mock = MockBackend::start().await;
    let resets_at = now_secs() + 600;
    mock.push_answer(usage_limit_answer(resets_at));
    let proxy = TestProxy::start(&mock).await;
    assert_eq!(
        proxy.post("/v1/responses", &hello(false)).await.status(),
        429
    );
    assert_eq!(
        proxy.post("/v1/responses", &hello(false)).await.status(),
        429
    );
    let cooldown = status_json(&proxy).await["cooldown"].clone();
    assert_eq!(cooldown["resets_at"], rfc3339(resets_at));
    assert_eq!(cooldown["refusals"], 1);
    assert_eq!(cooldown["message"], "You've hit your usage limit.");

    std::fs::remove_file(proxy.auth_path()).unwrap();
    let status = status_json(&proxy).await;
    assert_eq!(status["login"]["usable"], false);
    let error = status["login"]["error"].as_str().unwrap();
    assert!(error.contains("no Codex login found"), "{error}");
}

/// Runs `codex-responses-proxy status` with `args` and a clean environment.
async fn status_command(home: &Path, args: Vec<String>) -> Output {
    let mut command = binary(home);
    command.arg("status").args(args);
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A configuration file for a daemon in front of `mock`, listening on `listen`.
fn config_file(dir: &Path, mock: &MockBackend, listen: &str, key: Option<&Path>) -> PathBuf {
    let mut toml = format!(
        "listen = {listen:?}\ncodex_home = {:?}\nupstream_url = {:?}\ntoken_url = {:?}\n\
         log_target = \"stderr\"\n",
        dir.display().to_string(),
        mock.upstream_url(),
        mock.token_url()
    );
    if let Some(key) = key {
        toml.push_str(&format!("api_key_file = {:?}\n", key.display().to_string()));
    }
    let path = dir.join(if key.is_some() {
        "config.toml"
    } else {
        "nokey.toml"
    });
    std::fs::write(&path, toml).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_subcommand_asks_the_daemon_over_its_unix_socket_and_tcp() {
    let mock = MockBackend::start().await;
    let home = tempfile::tempdir().unwrap();
    write_auth(home.path(), &mock.login(now_secs() + 3600));
    let key = home.path().join("client.key");
    std::fs::write(&key, format!("{KEY}\n")).unwrap();
    let socket = home.path().join("proxy.sock");
    let listen = format!("unix:{}", socket.display());
    let config = config_file(home.path(), &mock, &listen, Some(&key));
    let over_unix = Child::spawn({
        let mut c = binary(home.path());
        c.arg("--config").arg(&config);
        c
    });
    assert_eq!(over_unix.address().await, listen);

    let out = status_command(
        home.path(),
        vec!["--config".into(), config.display().to_string()],
    )
    .await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with(&format!(
        "codex-responses-proxy {}, listening on {listen} (own listener), up ",
        env!("CARGO_PKG_VERSION")
    )));
    for line in [
        "in flight: nothing",
        "login: dev@example.com, account acc-test-1, plan plus",
        "credits: 12.00",
        "model list: not fetched yet",
    ] {
        assert!(lines.contains(&line), "no {line:?} in\n{stdout}");
    }
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("5-hour window: 12% used, resets ") && l.contains("(in 2 h ")),
        "{stdout}"
    );

    // The same configuration without the key is refused by the daemon.
    let nokey = config_file(home.path(), &mock, &listen, None);
    let out = status_command(
        home.path(),
        vec!["--config".into(), nokey.display().to_string()],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(&format!("the daemon at {listen} refused the client key")),
        "{}",
        text(&out.stderr)
    );

    // Over TCP: a daemon of the same configuration on another address.
    let over_tcp = Child::spawn({
        let mut c = binary(home.path());
        c.arg("--config")
            .arg(&config)
            .args(["--listen", "127.0.0.1:0"]);
        c
    });
    let addr = over_tcp.address().await;
    let flags = vec![
        "--config".into(),
        config.display().to_string(),
        "--listen".into(),
        addr.clone(),
    ];
    let out = status_command(home.path(), flags).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(&format!("listening on {addr} (own listener)")));
    over_tcp.stop().await;
    over_unix.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_subcommand_fails_on_a_reached_limit_a_broken_login_or_no_daemon() {
    let mock = MockBackend::start().await;
    mock.push_answer(usage_limit_answer(now_secs() + 600));
    let proxy = TestProxy::start(&mock).await;
    let ask = || {
        status_command(
            proxy.home.path(),
            vec!["--listen".into(), proxy.addr.to_string()],
        )
    };
    assert_eq!(ask().await.status.code(), Some(0));

    assert_eq!(
        proxy.post("/v1/responses", &hello(false)).await.status(),
        429
    );
    let out = ask().await;
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout
            .contains("limit reached: this login's requests are answered locally with 429 until "),
        "{stdout}"
    );

    std::fs::remove_file(proxy.auth_path()).unwrap();
    let out = ask().await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("login: not usable: "),
        "{}",
        text(&out.stdout)
    );

    let closed = closed_url();
    let closed = closed
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap();
    let out = status_command(proxy.home.path(), vec!["--listen".into(), closed.into()]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains(&format!("no daemon answers at {closed}")));
}
