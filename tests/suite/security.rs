//! Client authentication, the refusal to listen beyond loopback without it,
//! and what the logs of the real binary may contain: never a token or the
//! client key, and the prompt only with `--debug`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::path::Path;

use common::process::{Child, binary};
use common::{MockBackend, TestProxy, hello, mock, sse_data};
use serde_json::{Value, json};

const KEY: &str = "sk-proxy-client-key-5c1f0e7a9d";
const PROMPT: &str = "the-secret-prompt-9f3b2c";

fn write_key(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("client.key");
    std::fs::write(&path, format!("{KEY}\n")).unwrap();
    path
}

#[tokio::test]
async fn with_an_api_key_file_only_clients_presenting_the_key_are_served() {
    let mock = MockBackend::start().await;
    let keys = tempfile::tempdir().unwrap();
    let key_file = write_key(keys.path());
    let proxy = TestProxy::start_with(&mock, |c| c.api_key_file = Some(key_file)).await;
    let refused = json!({"error": {
        "message": "this proxy requires `Authorization: Bearer <key>` or `x-api-key: <key>` with the key from its api_key_file",
        "type": "invalid_request_error", "code": "invalid_api_key", "param": null}});

    let without = proxy.post("/v1/responses", &hello(false)).await;
    assert_eq!(without.status(), 401);
    assert_eq!(without.json::<Value>().await.unwrap(), refused);
    let longer = format!("{KEY}x");
    let shorter = &KEY[..KEY.len() - 1];
    for wrong in [
        format!("Bearer {longer}"),
        format!("Bearer {shorter}"),
        "Bearer ".into(),
        format!("Basic {KEY}"),
        KEY.into(),
    ] {
        let response = proxy
            .client
            .post(proxy.url("/v1/responses"))
            .header("authorization", &wrong)
            .json(&hello(false))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{wrong}");
        assert_eq!(response.json::<Value>().await.unwrap(), refused);
    }
    for path in ["/v1/models", "/v1/chat/completions", "/nowhere"] {
        let response = proxy.get(path).await;
        assert_eq!(response.status(), 401, "{path}");
    }
    assert_eq!(mock.responses_calls(), 0);
    // Health checks stay open.
    let health = proxy.get("/healthz").await;
    assert_eq!(health.status(), 200);

    let response = proxy
        .client
        .post(proxy.url("/v1/responses"))
        .bearer_auth(KEY)
        .json(&hello(false))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // The client's key is not passed on to the backend.
    let seen = mock.last_seen();
    assert!(!format!("{:?}", seen.headers).contains(KEY));
}

#[tokio::test]
async fn status_and_metrics_are_refused_without_the_client_key() {
    let mock = MockBackend::start().await;
    let keys = tempfile::tempdir().unwrap();
    let key_file = write_key(keys.path());
    let proxy = TestProxy::start_with(&mock, |c| {
        c.api_key_file = Some(key_file);
        c.metrics = true;
    })
    .await;
    for path in ["/v1/status", "/metrics"] {
        let without = proxy.get(path).await;
        assert_eq!(without.status(), 401, "{path}");
        assert_eq!(
            without.json::<Value>().await.unwrap()["error"]["code"],
            "invalid_api_key"
        );
        let with = proxy
            .client
            .get(proxy.url(path))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(with.status(), 200, "{path}");
    }
    // Nothing about the login was asked of the backend for the refused ones.
    assert_eq!(mock.usage_calls(), 1);
}

#[test]
fn print_config_shows_the_key_file_but_never_the_key() {
    let home = tempfile::tempdir().unwrap();
    let key_file = write_key(home.path());
    let config = home.path().join("config.toml");
    std::fs::write(
        &config,
        format!("api_key_file = {:?}\n", key_file.display().to_string()),
    )
    .unwrap();
    let output = binary(home.path())
        .arg("--config")
        .arg(&config)
        .arg("--print-config")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stdout.contains(&key_file.display().to_string()), "{stdout}");
    assert!(!stdout.contains(KEY) && !stderr.contains(KEY));
}

#[test]
fn listening_beyond_loopback_without_a_key_is_refused_at_startup() {
    let home = tempfile::tempdir().unwrap();
    for listen in ["0.0.0.0:0", "[::]:0"] {
        let output = binary(home.path())
            .args(["--listen", listen])
            .output()
            .unwrap();
        assert!(!output.status.success(), "{listen}: {output:?}");
        assert_eq!(output.status.code(), Some(1));
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(stderr.contains("listen"), "{stderr}");
        assert!(stderr.contains("api_key_file"), "{stderr}");
        assert!(stderr.contains("allow_remote_without_key"), "{stderr}");
    }
}

#[test]
fn listening_beyond_loopback_is_accepted_with_a_key_or_the_explicit_opt_out() {
    // Checked with --print-config, which validates without binding anything.
    let home = tempfile::tempdir().unwrap();
    let key_file = write_key(home.path());
    for (name, setting) in [
        (
            "with_key.toml",
            format!("api_key_file = {:?}\n", key_file.display().to_string()),
        ),
        ("opt_out.toml", "allow_remote_without_key = true\n".into()),
    ] {
        let config = home.path().join(name);
        std::fs::write(&config, setting).unwrap();
        let output = binary(home.path())
            .arg("--config")
            .arg(&config)
            .args(["--listen", "0.0.0.0:0", "--print-config"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{name}: {output:?}");
    }
}

/// Runs the binary through a full session (an expired login refreshed, a
/// collected and a streamed Responses request, a chat request, a refused
/// client) and returns its logs and every secret it handled.
async fn full_run(flags: &[&str]) -> (String, Vec<String>) {
    let mock = MockBackend::start().await;
    let home = tempfile::tempdir().unwrap();
    let codex_home = home.path().join("codex");
    std::fs::create_dir(&codex_home).unwrap();
    let before = mock.login(mock::now_secs() - 10);
    common::write_auth(&codex_home, &before);
    let key_file = write_key(home.path());
    let config = home.path().join("config.toml");
    std::fs::write(
        &config,
        format!("api_key_file = {:?}\n", key_file.display().to_string()),
    )
    .unwrap();
    let mut command = binary(home.path());
    command
        .arg("--config")
        .arg(&config)
        .args(["--listen", "127.0.0.1:0", "--log-target", "stderr"])
        .arg("--codex-home")
        .arg(&codex_home)
        .args(["--upstream-url", &mock.upstream_url()])
        .args(["--token-url", &mock.token_url()])
        .args(flags);
    let child = Child::spawn(command);
    let base = format!("http://{}", child.address().await);
    let client = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        client
            .post(format!("{base}{path}"))
            .bearer_auth(KEY)
            .json(&body)
            .send()
    };

    let request = json!({"model": "gpt-5", "input": PROMPT, "instructions": PROMPT});
    let response = post("/v1/responses", request.clone()).await.unwrap();
    assert_eq!(response.status(), 200);
    let mut streamed = request;
    streamed["stream"] = json!(true);
    let text = post("/v1/responses", streamed)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        sse_data(&text).last().unwrap()["type"],
        "response.completed"
    );
    let chat = json!({"model": "gpt-5", "messages": [{"role": "user", "content": PROMPT}]});
    assert_eq!(
        post("/v1/chat/completions", chat).await.unwrap().status(),
        200
    );
    let refused = client
        .post(format!("{base}/v1/responses"))
        .bearer_auth(format!("{KEY}-wrong"))
        .json(&hello(false))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(mock.refresh_calls(), 1);

    let log = child.stop().await;
    let after: Value =
        serde_json::from_slice(&std::fs::read(codex_home.join("auth.json")).unwrap()).unwrap();
    let mut secrets = vec![KEY.to_owned()];
    for doc in [&before, &after] {
        for token in ["access_token", "refresh_token", "id_token"] {
            secrets.push(doc["tokens"][token].as_str().unwrap().to_owned());
        }
    }
    assert_ne!(
        before["tokens"]["refresh_token"],
        after["tokens"]["refresh_token"]
    );
    (log, secrets)
}

fn assert_no_secret(log: &str, secrets: &[String]) {
    for secret in secrets {
        assert!(!log.contains(secret.as_str()), "a secret is in the log");
        // Each JWT segment alone would still give the token away.
        for part in secret.split('.').filter(|p| p.len() > 24) {
            assert!(!log.contains(part), "part of a token is in the log");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_logs_carry_neither_tokens_nor_the_prompt() {
    let (log, secrets) = full_run(&["--log-level", "debug"]).await;
    assert!(log.contains("login refreshed and saved"), "{log}");
    assert!(log.contains("listening"));
    assert_no_secret(&log, &secrets);
    assert!(!log.contains(PROMPT), "the prompt is in the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_debug_the_prompt_is_logged_but_tokens_still_are_not() {
    let (log, secrets) = full_run(&["--log-level", "debug", "--debug"]).await;
    assert!(log.contains("login refreshed and saved"), "{log}");
    assert_no_secret(&log, &secrets);
    assert!(log.contains(PROMPT), "--debug should log the patched body");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_logs_carry_no_token_either() {
    let (log, secrets) = full_run(&["--log-level", "trace", "--debug"]).await;
    assert_no_secret(&log, &secrets);
}
