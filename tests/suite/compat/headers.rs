//! Turn state both ways, the backend's headers handed back, and the
//! client's own headers forwarded (PROTOCOL.md §10), on every way of asking.

use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use super::common::{MockBackend, TestProxy, hello, sse_data};
use codex_responses_proxy::config::DEFAULT_CLIENT_VERSION;

/// The four ways of asking for an answer: `(name, path, body)`.
fn routes() -> Vec<(&'static str, &'static str, Value)> {
    let chat = |stream: bool| json!({"model": "gpt-5", "messages": [{"role": "user", "content": "Say hello"}], "stream": stream});
    vec![
        ("responses collected", "/v1/responses", hello(false)),
        ("responses streamed", "/v1/responses", hello(true)),
        ("chat collected", "/v1/chat/completions", chat(false)),
        ("chat streamed", "/v1/chat/completions", chat(true)),
    ]
}

/// POSTs `body` with `headers`, reading the whole answer: its headers and a
/// sign that it ended well.
async fn ask(proxy: &TestProxy, path: &str, body: &Value, headers: &[(&str, &str)]) -> HeaderMap {
    let mut request = proxy.client.post(proxy.url(path)).json(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let ended = if headers["content-type"] == "text/event-stream" {
        text.ends_with("data: [DONE]\n\n")
            || sse_data(&text).last().unwrap()["type"] == "response.completed"
    } else {
        serde_json::from_str::<Value>(&text).is_ok()
    };
    assert!(ended, "{path}: {text}");
    headers
}

fn turn_state(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("x-codex-turn-state")
        .map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn the_turn_state_comes_back_and_goes_forward_untouched_on_every_route() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    for (name, path, body) in routes() {
        let first = ask(&proxy, path, &body, &[]).await;
        let issued = mock.turn_states_issued().last().unwrap().clone();
        assert_eq!(turn_state(&first), Some(issued.as_str()), "{name}");
        assert_eq!(mock.last_seen().turn_state, None, "{name}");

        // A later request of the same turn sends it back.
        let same_turn = ask(&proxy, path, &body, &[("x-codex-turn-state", &issued)]).await;
        assert_eq!(
            mock.last_seen().turn_state.as_deref(),
            Some(issued.as_str()),
            "{name}"
        );
        assert_eq!(turn_state(&same_turn), Some(issued.as_str()), "{name}");
    }
    assert_eq!(mock.turn_states_issued().len(), 4);
}

#[tokio::test]
async fn the_backends_catalogue_model_and_reasoning_headers_are_handed_back_on_every_route() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let wanted = [
        "x-models-etag",
        "openai-model",
        "x-reasoning-included",
        "x-request-id",
        "x-codex-primary-used-percent",
        "x-codex-secondary-reset-at",
    ];
    let reset_at = mock.state.rate_limit_headers.lock().unwrap()[5].1.clone();
    for (name, path, body) in routes() {
        let headers = ask(&proxy, path, &body, &[]).await;
        let got: Vec<(&str, &str)> = wanted
            .iter()
            .map(|h| (*h, headers.get(*h).map_or("", |v| v.to_str().unwrap())))
            .collect();
        assert_eq!(
            got,
            [
                ("x-models-etag", "\"models-v1\""),
                ("openai-model", "gpt-5"),
                ("x-reasoning-included", "true"),
                ("x-request-id", "upstream-req-1"),
                ("x-codex-primary-used-percent", "12"),
                ("x-codex-secondary-reset-at", reset_at.as_str()),
            ],
            "{name}"
        );
    }
}

/// The headers the current Codex CLI sends besides its identity (CLIENTS.md).
const CLI_TURN_HEADERS: [(&str, &str); 9] = [
    ("session-id", "thread-9"),
    ("thread-id", "thread-9"),
    ("x-client-request-id", "thread-9"),
    ("x-codex-window-id", "thread-9:0"),
    (
        "x-codex-turn-metadata",
        r#"{"request_kind":"turn","turn_id":"t-1"}"#,
    ),
    ("x-openai-subagent", "compact"),
    ("x-codex-parent-thread-id", "thread-8"),
    ("x-codex-beta-features", "remote_compaction_v2"),
    ("x-codex-turn-state", "ts_from_an_earlier_request"),
];

const CLI_IDENTITY: [(&str, &str); 3] = [
    ("originator", "codex_exec"),
    ("version", "0.171.0"),
    (
        "user-agent",
        "codex_exec/0.171.0 (Debian 12.0.0; x86_64) xterm (codex_exec; 0.171.0)",
    ),
];

/// `names` as `mock` last saw them.
fn last_seen<'a>(
    mock: &MockBackend,
    names: impl Iterator<Item = &'a str>,
) -> Vec<(String, String)> {
    let seen = mock.last_seen().headers;
    names
        .map(|n| {
            let v = seen.get(n).map_or("(none)", |v| v.to_str().unwrap());
            (n.to_owned(), v.to_owned())
        })
        .collect()
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test]
async fn the_codex_cli_keeps_its_own_identity_and_turn_headers() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let sent: Vec<(&str, &str)> = CLI_IDENTITY
        .iter()
        .chain(&CLI_TURN_HEADERS)
        .copied()
        .collect();
    for (name, path, body) in routes() {
        ask(&proxy, path, &body, &sent).await;
        let names = sent.iter().map(|(k, _)| *k);
        assert_eq!(last_seen(&mock, names), owned(&sent), "{name}");
    }
    let compact = json!({"model": "gpt-5", "input": [super::user("one")]});
    let response = proxy
        .client
        .post(proxy.url("/v1/responses/compact"))
        .headers(
            sent.iter()
                .map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap()))
                .collect(),
        )
        .json(&compact)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        last_seen(&mock, sent.iter().map(|(k, _)| *k)),
        owned(&sent),
        "compact"
    );
}

#[tokio::test]
async fn an_sdk_client_is_presented_as_the_proxy_with_its_turn_headers_kept() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let sdk = [
        ("user-agent", "OpenAI/Python 2.8.0"),
        ("x-stainless-lang", "python"),
    ];
    let sent: Vec<(&str, &str)> = sdk.iter().chain(&CLI_TURN_HEADERS).copied().collect();
    for (name, path, body) in routes() {
        ask(&proxy, path, &body, &sent).await;
        let turn_headers = CLI_TURN_HEADERS.iter().map(|(k, _)| *k);
        assert_eq!(
            last_seen(&mock, turn_headers),
            owned(&CLI_TURN_HEADERS),
            "{name}"
        );
        let identity = last_seen(
            &mock,
            ["originator", "version", "x-stainless-lang"].into_iter(),
        );
        assert_eq!(
            identity,
            owned(&[
                ("originator", "codex_cli_rs"),
                ("version", DEFAULT_CLIENT_VERSION),
                ("x-stainless-lang", "(none)"),
            ]),
            "{name}"
        );
        let agent = mock.last_seen().headers["user-agent"]
            .to_str()
            .unwrap()
            .to_owned();
        let ours = format!("codex_cli_rs/{DEFAULT_CLIENT_VERSION} (");
        assert!(
            agent.starts_with(&ours) && agent.contains(" codex-responses-proxy/"),
            "{agent}"
        );
    }
}

#[tokio::test]
async fn a_session_id_is_derived_from_the_prompt_cache_key_when_the_client_sends_none() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let mut body = hello(false);
    body["prompt_cache_key"] = json!("conv-77");
    ask(&proxy, "/v1/responses", &body, &[]).await;
    let names = ["session-id", "session_id"].into_iter();
    assert_eq!(
        last_seen(&mock, names.clone()),
        owned(&[("session-id", "conv-77"), ("session_id", "conv-77")])
    );
    ask(&proxy, "/v1/responses", &hello(false), &[]).await;
    assert_eq!(
        last_seen(&mock, names),
        owned(&[("session-id", "(none)"), ("session_id", "(none)")])
    );
}

#[tokio::test]
async fn a_current_codex_cli_sending_no_version_gets_the_release_of_its_user_agent() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let agent = "codex_exec/0.169.0 (Debian 12.0.0; x86_64) xterm (codex_exec; 0.169.0)";
    let sent = [("originator", "codex_exec"), ("user-agent", agent)];
    ask(&proxy, "/v1/responses", &hello(false), &sent).await;
    let identity = ["originator", "version", "user-agent"].into_iter();
    assert_eq!(
        last_seen(&mock, identity),
        owned(&[
            ("originator", "codex_exec"),
            ("version", "0.169.0"),
            ("user-agent", agent)
        ])
    );
}

/// Headers of the client's families this release does not name, W3C trace
/// context, and what never crosses.
const FUTURE_HEADERS: [(&str, &str); 5] = [
    ("x-codex-feature-of-next-week", "on"),
    ("x-openai-internal-codex-responses-lite", "true"),
    (
        "traceparent",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    ),
    ("tracestate", "vendor=opaque"),
    ("cookie", "session=from-a-browser"),
];

#[tokio::test]
async fn unknown_codex_headers_and_trace_context_reach_the_backend_but_a_cookie_does_not() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    for (name, path, body) in routes() {
        ask(&proxy, path, &body, &FUTURE_HEADERS).await;
        let names = FUTURE_HEADERS.iter().map(|(k, _)| *k);
        let mut expected = owned(&FUTURE_HEADERS);
        expected[4].1 = "(none)".to_owned();
        assert_eq!(last_seen(&mock, names), expected, "{name}");
    }
}
