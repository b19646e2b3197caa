//! The login: refreshing once for many requests, adopting another writer's
//! tokens, writing back safely, and saying plainly what to do when it is gone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::os::unix::fs::PermissionsExt;

use common::{MockBackend, TestProxy, TokenAnswer, hello, mock, write_auth};
use serde_json::{Value, json};

async fn status_and_body(proxy: &TestProxy) -> (u16, Value) {
    let response = proxy.post("/v1/responses", &hello(false)).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn an_expired_token_is_refreshed_exactly_once_for_20_concurrent_requests() {
    let mock = MockBackend::start().await;
    let home = tempfile::tempdir().unwrap();
    let mut login = mock.login(mock::now_secs() - 10);
    login["agent_identity"] = json!({"kept": true});
    write_auth(home.path(), &login);
    let proxy = TestProxy::start_in(&mock, home, |_| {}).await;

    let body = hello(false);
    let requests = (0..20).map(|_| proxy.post("/v1/responses", &body));
    for response in futures_util::future::join_all(requests).await {
        assert_eq!(response.status(), 200);
    }
    assert_eq!(mock.refresh_calls(), 1);
    assert!(!mock.refresh_token_reused());

    let saved = proxy.read_auth();
    let meta = std::fs::metadata(proxy.auth_path()).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(saved["agent_identity"], json!({"kept": true}));
    assert_eq!(saved["auth_mode"], "chatgpt");
    assert_eq!(saved["OPENAI_API_KEY"], Value::Null);
    assert_eq!(saved["tokens"]["account_id"], mock::ACCOUNT_ID);
    assert_ne!(
        saved["tokens"]["refresh_token"],
        login["tokens"]["refresh_token"]
    );
    assert_ne!(
        saved["tokens"]["access_token"],
        login["tokens"]["access_token"]
    );
    assert_ne!(saved["last_refresh"], login["last_refresh"]);
    // Pretty-printed as Codex writes it, and no temporary left behind.
    assert!(
        std::fs::read_to_string(proxy.auth_path())
            .unwrap()
            .contains("\n  \"tokens\"")
    );
    let names: Vec<_> = std::fs::read_dir(proxy.home.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != "auth.json" && n != "auth.json.lock")
        .collect();
    assert_eq!(names, Vec::<String>::new());
}

#[tokio::test]
async fn a_401_from_the_backend_reloads_refreshes_and_retries_once() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let first = proxy.read_auth();
    mock.revoke(first["tokens"]["access_token"].as_str().unwrap());
    let (status, _) = status_and_body(&proxy).await;
    assert_eq!(status, 200);
    assert_eq!(mock.refresh_calls(), 1);
    assert_eq!(mock.responses_calls(), 2);
    assert_ne!(
        proxy.read_auth()["tokens"]["access_token"],
        first["tokens"]["access_token"]
    );
}

#[tokio::test]
async fn tokens_rotated_by_another_writer_are_adopted_without_spending_the_refresh_token() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    assert_eq!(status_and_body(&proxy).await.0, 200);

    // Another program (the Codex CLI) refreshes with the same login and writes the file.
    let old = proxy.read_auth();
    let rotated: Value = reqwest::Client::new()
        .post(mock.token_url())
        .json(
            &json!({"client_id": "app_EMoamEEZ73f0CkXaXp7hrann", "grant_type": "refresh_token",
            "refresh_token": old["tokens"]["refresh_token"]}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut new = old.clone();
    new["tokens"]["access_token"] = rotated["access_token"].clone();
    new["tokens"]["refresh_token"] = rotated["refresh_token"].clone();
    write_auth(proxy.home.path(), &new);
    mock.revoke(old["tokens"]["access_token"].as_str().unwrap());

    assert_eq!(status_and_body(&proxy).await.0, 200);
    assert_eq!(
        mock.last_seen().headers["authorization"],
        format!("Bearer {}", rotated["access_token"].as_str().unwrap())
    );
    assert_eq!(mock.refresh_calls(), 1, "only the other writer refreshed");
    assert!(!mock.refresh_token_reused());
}

#[tokio::test]
async fn a_missing_login_names_the_fix_and_is_picked_up_without_a_restart() {
    let mock = MockBackend::start().await;
    let home = tempfile::tempdir().unwrap();
    let proxy = TestProxy::start_in(&mock, home, |_| {}).await;
    let (status, body) = status_and_body(&proxy).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "codex_login_required");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("codex login")
    );
    assert_eq!(mock.responses_calls(), 0);

    write_auth(proxy.home.path(), &mock.login(mock::now_secs() + 3600));
    assert_eq!(status_and_body(&proxy).await.0, 200);
}

#[tokio::test]
async fn broken_api_key_and_keyring_logins_each_get_a_clear_401() {
    let mock = MockBackend::start().await;
    let home = tempfile::tempdir().unwrap();
    let proxy = TestProxy::start_in(&mock, home, |_| {}).await;
    let path = proxy.auth_path();
    let cases: [(&dyn Fn(), &str); 3] = [
        (
            &|| std::fs::write(&path, "{\"tokens\": ").unwrap(),
            "not a valid Codex login",
        ),
        (
            &|| std::fs::write(&path, r#"{"auth_mode":"apikey","OPENAI_API_KEY":"sk-x"}"#).unwrap(),
            "API-key login",
        ),
        (
            &|| {
                std::fs::remove_file(&path).unwrap();
                std::fs::write(
                    proxy.home.path().join("config.toml"),
                    "cli_auth_credentials_store = \"keyring\"\n",
                )
                .unwrap();
            },
            "keyring",
        ),
    ];
    for (prepare, needle) in cases {
        prepare();
        let (status, body) = status_and_body(&proxy).await;
        assert_eq!(status, 401, "{needle}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(needle) && message.contains("codex login"),
            "{message}"
        );
    }
}

#[tokio::test]
async fn a_dead_refresh_token_is_a_401_to_log_in_again_without_a_retry_loop() {
    let mock = MockBackend::start().await;
    let home = tempfile::tempdir().unwrap();
    write_auth(home.path(), &mock.login(mock::now_secs() - 10));
    mock.push_token_answer(TokenAnswer::Status {
        status: 401,
        body: json!({"error": {"code": "refresh_token_reused", "message": "already used"}})
            .to_string(),
    });
    let proxy = TestProxy::start_in(&mock, home, |_| {}).await;
    let before = std::fs::read(proxy.auth_path()).unwrap();
    for _ in 0..3 {
        let (status, body) = status_and_body(&proxy).await;
        assert_eq!(status, 401);
        assert_eq!(body["error"]["code"], "codex_login_expired");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("codex login")
        );
    }
    assert_eq!(
        mock.refresh_calls(),
        1,
        "a refused refresh token is not offered again"
    );
    assert_eq!(std::fs::read(proxy.auth_path()).unwrap(), before);

    // A new login (the user ran `codex login`) works at once.
    write_auth(proxy.home.path(), &mock.login(mock::now_secs() + 3600));
    assert_eq!(status_and_body(&proxy).await.0, 200);
}

#[tokio::test]
async fn token_endpoint_failures_are_transient_502_or_503() {
    let mock = MockBackend::start().await;
    let home = tempfile::tempdir().unwrap();
    write_auth(home.path(), &mock.login(mock::now_secs() - 10));
    mock.push_token_answer(TokenAnswer::Status {
        status: 500,
        body: "<html>down</html>".into(),
    });
    mock.push_token_answer(TokenAnswer::Status {
        status: 200,
        body: "garbage".into(),
    });
    let proxy = TestProxy::start_in(&mock, home, |_| {}).await;
    let (status, body) = status_and_body(&proxy).await;
    assert_eq!(status, 503);
    assert_eq!(body["error"]["code"], "token_refresh_failed");
    let (status, _) = status_and_body(&proxy).await;
    assert_eq!(status, 502);
    // The refresh token was not burnt by those failures: the next try succeeds.
    assert_eq!(status_and_body(&proxy).await.0, 200);
    assert_eq!(mock.refresh_calls(), 3);
}

#[tokio::test]
async fn a_refused_write_back_keeps_the_old_file_and_saves_the_new_tokens_later() {
    let mock = MockBackend::start().await;
    let home = tempfile::tempdir().unwrap();
    write_auth(home.path(), &mock.login(mock::now_secs() - 10));
    let proxy = TestProxy::start_in(&mock, home, |_| {}).await;
    let before = std::fs::read(proxy.auth_path()).unwrap();
    // The temporary file's name is taken: the write-back cannot happen.
    let blocker = codex_responses_proxy::auth::file::temp_path(&proxy.auth_path());
    std::fs::create_dir(&blocker).unwrap();

    assert_eq!(status_and_body(&proxy).await.0, 200);
    assert_eq!(
        std::fs::read(proxy.auth_path()).unwrap(),
        before,
        "the old file is intact"
    );
    assert_eq!(status_and_body(&proxy).await.0, 200);
    assert_eq!(
        mock.refresh_calls(),
        1,
        "the new tokens are used from memory"
    );

    std::fs::remove_dir(&blocker).unwrap();
    assert_eq!(status_and_body(&proxy).await.0, 200);
    let saved = proxy.read_auth();
    assert_ne!(serde_json::to_vec_pretty(&saved).unwrap(), before);
    assert_eq!(
        mock.last_seen().headers["authorization"],
        format!(
            "Bearer {}",
            saved["tokens"]["access_token"].as_str().unwrap()
        )
    );
    assert_eq!(mock.refresh_calls(), 1);
}
