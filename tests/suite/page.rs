//! The status page in a real headless Chromium: after turns from two
//! clients, the DOM its script builds from `/v1/status` shows the account,
//! both usage windows with their percentages, the turns with their tokens
//! and each client's cache hit ratio; behind `api_key_file` it shows the key
//! prompt and no data. On a failure a screenshot at the width of a phone is
//! written to `target/test-output/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::path::Path;

use serde_json::json;

use super::accounting::{CLAUDE_CODE, OPENAI_PYTHON, answer, post_as, status_after};
use super::browser::{chromium, dom_after_scripts};
use super::devtools::{Page, output_dir};
use common::mock::{text_answer, with_usage};
use common::{MockBackend, TestProxy};

/// Checks `dom` with `check`; on a failure, a screenshot of `url` 360 px
/// wide is written as `name.png` first, and the failure names it.
async fn checked(chromium: &Path, url: &str, name: &str, dom: &str, check: impl Fn(&str) -> bool) {
    if check(dom) {
        return;
    }
    let dir = output_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let shot = dir.join(format!("{name}.png"));
    let flag = format!("--screenshot={}", shot.display());
    let args = [
        "--virtual-time-budget=10000",
        "--window-size=360,1600",
        flag.as_str(),
    ];
    dom_after_scripts(chromium, url, &args).await;
    panic!("the page did not show what it should (screenshot {shot:?}):\n{dom}");
}

/// The text of the element with `id` in a dumped DOM, up to its closing tag.
fn element<'a>(dom: &'a str, id: &str) -> &'a str {
    let start = dom.find(&format!("id=\"{id}\"")).unwrap_or(0);
    let rest = &dom[start..];
    let end = rest.find("</section>").unwrap_or(rest.len());
    &rest[..end]
}

#[tokio::test]
async fn the_page_shows_the_account_the_windows_the_turns_and_each_clients_cache_ratio() {
    let Some(chromium) = chromium() else {
        return;
    };
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    mock.push_answer(answer(with_usage(text_answer("Hi.", 1), [30, 10, 8, 2])));
    let chat = json!({"model": "gpt-5", "messages": [{"role": "user", "content": "hi"}]});
    post_as(&proxy, "/v1/chat/completions", &OPENAI_PYTHON, &chat).await;
    mock.push_answer(answer(with_usage(text_answer("Hi.", 1), [40, 32, 6, 1])));
    let message = json!({"model": "claude-sonnet-4-5", "max_tokens": 64, "stream": true,
        "messages": [{"role": "user", "content": "hi"}]});
    post_as(&proxy, "/v1/messages", &CLAUDE_CODE, &message).await;
    status_after(&proxy, 2).await;

    let url = proxy.url("/");
    let (dom, _) = dom_after_scripts(&chromium, &url, &[]).await;
    checked(&chromium, &url, "status-page", &dom, |dom| {
        let turns = element(dom, "turns");
        let clients = element(dom, "clients");
        dom.contains("dev@example.com")
            && dom.contains("5-hour window")
            && dom.contains("12% used")
            && dom.contains("Weekly window")
            && dom.contains("3% used")
            && turns.contains("<td>openai_sdk</td>")
            && turns.contains("<td>claude_code</td>")
            && turns.contains("<td class=\"n\">40</td>")
            && turns.contains("<td class=\"n\">32</td>")
            && clients.contains("<td class=\"n\">33.3%</td>")
            && clients.contains("<td class=\"n\">80%</td>")
            && !dom.contains("Hi.")
    })
    .await;
}

#[tokio::test]
async fn behind_a_client_key_the_page_asks_for_it_and_shows_no_data() {
    let Some(chromium) = chromium() else {
        return;
    };
    let mock = MockBackend::start().await;
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("key");
    std::fs::write(&key_file, "sk-page-key-1\n").unwrap();
    let proxy = TestProxy::start_with(&mock, |c| c.api_key_file = Some(key_file)).await;
    // The page loads without the key (it holds no data); its data does not.
    let page = proxy.get("/status").await;
    assert_eq!(page.status(), 200);
    assert_eq!(proxy.get("/v1/status").await.status(), 401);

    let url = proxy.url("/");
    let (dom, _) = dom_after_scripts(&chromium, &url, &[]).await;
    checked(&chromium, &url, "status-page-key", &dom, |dom| {
        dom.contains("<section id=\"key\">")
            && dom.contains("<div id=\"data\" hidden=\"\">")
            && !dom.contains("dev@example.com")
            && !dom.contains("<td>")
    })
    .await;
}

#[tokio::test]
async fn with_the_key_typed_in_the_page_shows_the_data_and_keeps_the_key_for_the_tab() {
    let Some(chromium) = chromium() else {
        return;
    };
    let mock = MockBackend::start().await;
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("key");
    std::fs::write(&key_file, "sk-page-key-1\n").unwrap();
    let proxy = TestProxy::start_with(&mock, |c| c.api_key_file = Some(key_file)).await;
    let turn = proxy
        .client
        .post(proxy.url("/v1/responses"))
        .bearer_auth("sk-page-key-1")
        .json(&common::hello(false))
        .send()
        .await
        .unwrap();
    assert_eq!(turn.status(), 200);

    let mut page = Page::open(&chromium, &proxy.url("/")).await;
    let name = "status-page-typed-key";
    page.until("!document.getElementById('key').hidden", name)
        .await;
    let type_key = |key: &str| {
        format!(
            "document.getElementById('key-input').value = {key:?}; \
             document.getElementById('key-save').click(); true"
        )
    };
    // A wrong key is refused, said so, and not kept.
    page.eval(&type_key("sk-wrong")).await;
    page.until("!document.getElementById('key-error').hidden", name)
        .await;
    assert_eq!(page.eval("sessionStorage.length").await, 0);
    assert_eq!(
        page.eval("document.getElementById('account').textContent")
            .await,
        ""
    );
    // The right key shows the data, and is kept in this tab's storage.
    page.eval(&type_key("sk-page-key-1")).await;
    page.until(
        "document.getElementById('account').textContent === 'dev@example.com'",
        name,
    )
    .await;
    page.until(
        "document.querySelectorAll('#turns tbody tr').length === 1",
        name,
    )
    .await;
    assert_eq!(
        page.eval("document.getElementById('key').hidden").await,
        true
    );
    assert_eq!(
        page.eval("sessionStorage.getItem('codex-responses-proxy.key')")
            .await,
        "sk-page-key-1"
    );
    assert_eq!(page.eval("localStorage.length").await, 0);
}

#[tokio::test]
async fn the_page_is_html_with_a_strict_policy_and_never_cached() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    for path in ["/", "/status"] {
        let page = proxy.get(path).await;
        assert_eq!(page.status(), 200);
        let headers = page.headers();
        assert_eq!(headers["content-type"], "text/html; charset=utf-8");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["cache-control"], "no-store");
        let policy = headers["content-security-policy"].to_str().unwrap();
        assert!(policy.starts_with("default-src 'self'; script-src 'sha256-"));
        assert!(policy.ends_with("frame-ancestors 'none'"), "{policy}");
        assert!(page.text().await.unwrap().contains("/v1/status"));
    }
}
