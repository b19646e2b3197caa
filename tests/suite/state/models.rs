//! Model aliases and reasoning-effort suffixes, on both request dialects,
//! and the suffixed names in `/v1/models`; the client version the list is
//! asked for, following the user's Codex CLI.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::common::mock::{NEXT_RELEASE, NEXT_RELEASE_MODEL};
use super::common::{MockBackend, TestProxy, hello, write_auth};

fn aliases() -> BTreeMap<String, String> {
    [
        ("fast", "gpt-5-codex"),
        ("smart", "gpt-5-high"),
        ("future", "gpt-5.5"),
    ]
    .into_iter()
    .map(|(a, m)| (a.to_owned(), m.to_owned()))
    .collect()
}

/// What the backend was sent for `model` (and `reasoning`), and the status.
async fn sent(proxy: &TestProxy, mock: &MockBackend, body: Value) -> (u16, Value, Value) {
    let status = proxy.post("/v1/responses", &body).await.status().as_u16();
    let seen = mock.last_seen().body;
    (
        status,
        seen["model"].clone(),
        seen.get("reasoning").cloned().unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn aliases_and_effort_suffixes_become_the_model_and_reasoning_effort() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start_with(&mock, |c| c.model_aliases = aliases()).await;
    let cases = [
        (
            json!({"model": "fast", "input": "x"}),
            json!("gpt-5-codex"),
            Value::Null,
        ),
        (
            json!({"model": "gpt-5-codex-low", "input": "x"}),
            json!("gpt-5-codex"),
            json!({"effort": "low"}),
        ),
        (
            json!({"model": "smart", "input": "x"}),
            json!("gpt-5"),
            json!({"effort": "high"}),
        ),
        (
            json!({"model": "gpt-5-xhigh", "input": "x", "reasoning": {"summary": "auto"}}),
            json!("gpt-5"),
            json!({"summary": "auto", "effort": "xhigh"}),
        ),
        (
            json!({"model": "gpt-5-high", "input": "x", "reasoning": {"effort": "minimal"}}),
            json!("gpt-5"),
            json!({"effort": "minimal"}),
        ),
    ];
    for (body, model, reasoning) in cases {
        assert_eq!(
            sent(&proxy, &mock, body.clone()).await,
            (200, model, reasoning),
            "{body}"
        );
    }
}

#[tokio::test]
async fn a_name_the_backend_does_not_know_fails_with_the_backends_own_400() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start_with(&mock, |c| c.model_aliases = aliases()).await;
    for (model, sent_as) in [
        ("future", "gpt-5.5"),
        ("gpt-5.5-high", "gpt-5.5"),
        ("gpt-5-turbo", "gpt-5-turbo"),
    ] {
        let response = proxy
            .post("/v1/responses", &json!({"model": model, "input": "x"}))
            .await;
        assert_eq!(response.status(), 400, "{model}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(
            error["error"]["message"],
            format!(
                "The '{sent_as}' model is not supported when using Codex with a ChatGPT account."
            ),
            "{model}"
        );
    }
}

#[tokio::test]
async fn chat_completions_resolve_names_too_and_answer_under_the_name_asked_for() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start_with(&mock, |c| c.model_aliases = aliases()).await;
    let body = json!({"model": "gpt-5-medium", "messages": [{"role": "user", "content": "hi"}]});
    let response = proxy.post("/v1/chat/completions", &body).await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["model"], "gpt-5-medium");
    let seen = mock.last_seen().body;
    assert_eq!(
        (seen["model"].clone(), seen["reasoning"]["effort"].clone()),
        (json!("gpt-5"), json!("medium"))
    );
    assert_eq!(seen.get("include"), None, "a chat request is never kept");
}

#[tokio::test]
async fn effort_variants_are_listed_only_when_asked_and_the_catalogue_adds_levels() {
    let mock = MockBackend::start().await;
    *mock.state.models.lock().unwrap() = json!({"models": [
        {"slug": "gpt-5", "visibility": "list", "supported_reasoning_levels": [{"effort": "low"}, {"effort": "turbo"}]},
        {"slug": "gpt-5-codex", "visibility": "list"},
    ]});
    let plain = TestProxy::start(&mock).await;
    let list: Value = plain.get("/v1/models").await.json().await.unwrap();
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["gpt-5", "gpt-5-codex"]);

    let listing = TestProxy::start_with(&mock, |c| c.list_effort_variants = true).await;
    let list: Value = listing.get("/v1/models").await.json().await.unwrap();
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "gpt-5",
            "gpt-5-low",
            "gpt-5-turbo",
            "gpt-5-codex",
            "gpt-5-codex-low",
            "gpt-5-codex-medium",
            "gpt-5-codex-high"
        ]
    );
    // Once the catalogue is known, its own levels are suffixes too.
    let body = json!({"model": "gpt-5-turbo", "input": "x"});
    assert_eq!(
        sent(&listing, &mock, body).await,
        (200, json!("gpt-5"), json!({"effort": "turbo"}))
    );
}

async fn listed(proxy: &TestProxy) -> Vec<String> {
    let list: Value = proxy.get("/v1/models").await.json().await.unwrap();
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn client_version(proxy: &TestProxy) -> Value {
    let status: Value = proxy.get("/v1/status").await.json().await.unwrap();
    status["client_version"].clone()
}

/// An SDK's request for `model`: its status and the `version` the backend saw.
async fn ask_for(proxy: &TestProxy, mock: &MockBackend, model: &str) -> (u16, Value) {
    let mut body = hello(false);
    body["model"] = json!(model);
    let status = proxy.post("/v1/responses", &body).await.status().as_u16();
    let seen = mock.last_seen().headers;
    let version = seen.get("version").map(|v| json!(v.to_str().unwrap()));
    (status, version.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_model_of_a_newer_release_appears_for_an_sdk_client_when_version_json_names_that_release()
{
    let mock = MockBackend::start().await;
    let stale = TestProxy::start(&mock).await;
    assert!(
        !listed(&stale)
            .await
            .contains(&NEXT_RELEASE_MODEL.to_owned())
    );
    assert_eq!(ask_for(&stale, &mock, NEXT_RELEASE_MODEL).await.0, 400);

    let home = tempfile::tempdir().unwrap();
    write_auth(
        home.path(),
        &mock.login(super::common::mock::now_secs() + 3600),
    );
    let doc = json!({"latest_version": NEXT_RELEASE, "last_checked_at": "2026-12-01T00:00:00Z", "dismissed_version": null});
    std::fs::write(home.path().join("version.json"), doc.to_string()).unwrap();
    let current = TestProxy::start_in(&mock, home, |_| {}).await;
    assert!(
        listed(&current)
            .await
            .contains(&NEXT_RELEASE_MODEL.to_owned())
    );
    assert_eq!(
        mock.state
            .models_client_versions
            .lock()
            .unwrap()
            .last()
            .unwrap(),
        NEXT_RELEASE
    );
    assert_eq!(
        ask_for(&current, &mock, NEXT_RELEASE_MODEL).await,
        (200, json!(NEXT_RELEASE))
    );
    assert_eq!(
        client_version(&current).await,
        json!({"version": NEXT_RELEASE, "source": {"kind": "version_json"}})
    );
}

#[tokio::test]
async fn a_newer_codex_cli_moves_the_version_for_other_clients_and_the_model_list_is_fetched_again()
{
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    assert!(
        !listed(&proxy)
            .await
            .contains(&NEXT_RELEASE_MODEL.to_owned())
    );
    let agent = format!("codex_exec/{NEXT_RELEASE} (Debian 12.0.0; x86_64) xterm");
    let cli = proxy
        .client
        .post(proxy.url("/v1/responses"))
        .header("originator", "codex_exec")
        .header("user-agent", agent)
        .json(&hello(false))
        .send()
        .await
        .unwrap();
    assert_eq!(cli.status(), 200);
    // Within models_cache_ttl, yet fetched again for the new version.
    assert!(
        listed(&proxy)
            .await
            .contains(&NEXT_RELEASE_MODEL.to_owned())
    );
    assert_eq!(
        ask_for(&proxy, &mock, NEXT_RELEASE_MODEL).await,
        (200, json!(NEXT_RELEASE))
    );
    assert_eq!(
        client_version(&proxy).await,
        json!({"version": NEXT_RELEASE, "source": {"kind": "seen", "client": "codex_exec"}})
    );
}

#[tokio::test]
async fn a_configured_client_version_is_kept_whatever_the_cli_sends() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start_with(&mock, |c| c.client_version = Some("0.150.0".into())).await;
    let cli = proxy
        .client
        .post(proxy.url("/v1/responses"))
        .header("originator", "codex_exec")
        .header("version", NEXT_RELEASE)
        .json(&hello(false))
        .send()
        .await
        .unwrap();
    assert_eq!(cli.status(), 200);
    assert_eq!(
        ask_for(&proxy, &mock, "gpt-5").await,
        (200, json!("0.150.0"))
    );
    assert_eq!(
        client_version(&proxy).await,
        json!({"version": "0.150.0", "source": {"kind": "configured"}})
    );
}
