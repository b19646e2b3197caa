//! The store through the daemon's configuration: what reaches the disk and
//! what never does, a restart, eviction by size and age, and a store that is
//! damaged or turned off.

use std::path::Path;
use std::time::Duration;

use codex_responses_proxy::store::StoreMode;
use serde_json::{Value, json};

use super::common::{MockBackend, TestProxy};
use super::{answered, reasoned, script, sent_back, turn, user};

/// Whether any file of the store's directory holds `needle`.
fn on_disk(dir: &Path, needle: &str) -> bool {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| std::fs::read(entry.unwrap().path()).unwrap())
        .any(|bytes| memchr::memmem::find(&bytes, needle.as_bytes()).is_some())
}

/// Polls `GET path` until it answers `status`.
async fn until_status(proxy: &TestProxy, path: &str, status: u16) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while proxy.get(path).await.status() != status {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{path} never answered {status}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn store_false_leaves_no_trace_on_disk_while_a_stored_answer_is_there() {
    let mock = MockBackend::start().await;
    let dir = tempfile::tempdir().unwrap();
    let proxy =
        TestProxy::start_with(&mock, |c| c.store_dir = Some(dir.path().to_path_buf())).await;
    script(&mock, reasoned("resp_secret", "A"));
    let body = json!({"model": "gpt-5", "input": "zebra-unseen-4711", "store": false});
    let (status, _) = turn(&proxy, body).await;
    assert_eq!(status, 200);
    assert_eq!(
        mock.last_seen().body.get("include"),
        None,
        "nothing asked for on behalf of a client that keeps nothing"
    );
    assert_eq!(proxy.get("/v1/responses/resp_secret").await.status(), 404);
    script(&mock, reasoned("resp_kept", "B"));
    turn(
        &proxy,
        json!({"model": "gpt-5", "input": "okapi-kept-4712"}),
    )
    .await;
    assert!(
        on_disk(dir.path(), "okapi-kept-4712"),
        "the stored answer is not in the store's files"
    );
    assert!(!on_disk(dir.path(), "zebra-unseen-4711"));
    assert!(!on_disk(dir.path(), "resp_secret"));
}

#[tokio::test]
async fn a_conversation_continues_after_the_daemon_restarts() {
    let mock = MockBackend::start().await;
    let dir = tempfile::tempdir().unwrap();
    let at = |c: &mut codex_responses_proxy::config::Config| {
        c.store_dir = Some(dir.path().to_path_buf())
    };
    let first = TestProxy::start_with(&mock, at).await;
    script(&mock, reasoned("resp_a", "A"));
    turn(&first, json!({"model": "gpt-5", "input": "one"})).await;
    first.shutdown().await;

    let second = TestProxy::start_with(&mock, at).await;
    let got: Value = second
        .get("/v1/responses/resp_a")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got, answered("resp_a", "A"));
    script(&mock, reasoned("resp_b", "B"));
    let (status, _) = turn(
        &second,
        json!({"model": "gpt-5", "input": "two", "previous_response_id": "resp_a"}),
    )
    .await;
    assert_eq!(status, 200);
    let mut history = sent_back("resp_a", "one", "A");
    history.push(user("two"));
    assert_eq!(mock.last_seen().body["input"], Value::from(history));
}

#[tokio::test]
async fn responses_unused_past_store_ttl_are_gone() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start_with(&mock, |c| c.store_ttl = Duration::from_secs(1)).await;
    script(&mock, reasoned("resp_a", "A"));
    turn(&proxy, json!({"model": "gpt-5", "input": "one"})).await;
    assert_eq!(proxy.get("/v1/responses/resp_a").await.status(), 200);
    until_status(&proxy, "/v1/responses/resp_a", 404).await;
    let (status, error) = turn(
        &proxy,
        json!({"model": "gpt-5", "input": "two", "previous_response_id": "resp_a"}),
    )
    .await;
    assert_eq!(
        (status, error["error"]["code"].clone()),
        (400, json!("previous_response_not_found"))
    );
}

#[tokio::test]
async fn past_store_max_bytes_the_least_recently_used_responses_go_first() {
    let mock = MockBackend::start().await;
    // Each turn stores about 700 bytes: room for three or four.
    let proxy = TestProxy::start_with(&mock, |c| c.store_max_bytes = 2_500).await;
    for n in 0..8 {
        script(&mock, reasoned(&format!("resp_{n}"), "some answer text"));
        turn(
            &proxy,
            json!({"model": "gpt-5", "input": format!("turn {n}")}),
        )
        .await;
    }
    until_status(&proxy, "/v1/responses/resp_0", 404).await;
    assert_eq!(proxy.get("/v1/responses/resp_7").await.status(), 200);
}

#[tokio::test]
async fn a_damaged_store_is_a_warning_and_only_the_requests_that_need_it_fail() {
    let mock = MockBackend::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("responses.sqlite3");
    let garbage = vec![b'x'; 8192];
    std::fs::write(&file, &garbage).unwrap();
    let proxy =
        TestProxy::start_with(&mock, |c| c.store_dir = Some(dir.path().to_path_buf())).await;
    let (status, answer) = turn(&proxy, json!({"model": "gpt-5", "input": "hi"})).await;
    assert_eq!(
        (status, answer["status"].clone()),
        (200, json!("completed"))
    );
    assert_eq!(mock.last_seen().body.get("include"), None);
    let (status, error) = turn(
        &proxy,
        json!({"model": "gpt-5", "input": "x", "previous_response_id": "resp_mock_1"}),
    )
    .await;
    assert_eq!(status, 503);
    assert_eq!(error["error"]["code"], "response_store_unavailable");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("response store is unavailable") && message.contains("responses.sqlite3"),
        "{message}"
    );
    assert_eq!(proxy.get("/v1/responses/resp_mock_1").await.status(), 503);
    assert_eq!(
        std::fs::read(&file).unwrap(),
        garbage,
        "the damaged file was written over"
    );
}

#[tokio::test]
async fn with_the_store_off_nothing_is_kept_and_retrieval_says_why() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start_with(&mock, |c| c.store = StoreMode::Off).await;
    assert_eq!(
        turn(&proxy, json!({"model": "gpt-5", "input": "hi"}))
            .await
            .0,
        200
    );
    let response = proxy.get("/v1/responses/resp_mock_1").await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "response_store_off");
    let (status, _) = turn(
        &proxy,
        json!({"model": "gpt-5", "input": "x", "previous_response_id": "resp_mock_1"}),
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn the_memory_store_keeps_a_conversation_while_the_daemon_runs() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start_with(&mock, |c| c.store = StoreMode::Memory).await;
    script(&mock, reasoned("resp_a", "A"));
    turn(&proxy, json!({"model": "gpt-5", "input": "one"})).await;
    script(&mock, reasoned("resp_b", "B"));
    let (status, _) = turn(
        &proxy,
        json!({"model": "gpt-5", "input": "two", "previous_response_id": "resp_a"}),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        std::fs::read_dir(proxy.state.path())
            .unwrap()
            .next()
            .is_none(),
        "the memory store wrote a file"
    );
}

/// The daemon binary, killed with SIGKILL as soon as the client has its
/// answers (the last one is then, as a rule, in the store's journal and not
/// yet in its database): every one of them is there after a restart, and
/// the conversation goes on.
#[tokio::test]
async fn kept_answers_survive_a_kill_9_right_after_the_client_received_them() {
    use super::common::process::{Child, binary};
    let mock = MockBackend::start().await;
    let home = tempfile::tempdir().unwrap();
    let codex = home.path().join("codex");
    std::fs::create_dir(&codex).unwrap();
    super::common::write_auth(&codex, &mock.login(super::common::mock::now_secs() + 3600));
    let store = home.path().join("store");
    let start = || {
        let mut command = binary(home.path());
        command
            .args(["--listen", "127.0.0.1:0", "--log-target", "stderr"])
            .arg("--codex-home")
            .arg(&codex)
            .arg("--store-dir")
            .arg(&store)
            .args(["--upstream-url", &mock.upstream_url()])
            .args(["--token-url", &mock.token_url()]);
        Child::spawn(command)
    };
    let client = reqwest::Client::new();
    let post = |base: &str, body: &Value| {
        let request = client.post(format!("{base}/v1/responses")).json(body);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let daemon = start();
    let base = format!("http://{}", daemon.address().await);
    const TURNS: usize = 20;
    for n in 0..TURNS {
        script(
            &mock,
            reasoned(&format!("resp_{n}"), &format!("answer {n}")),
        );
        let mut body = json!({"model": "gpt-5", "input": format!("turn {n}")});
        if n > 0 {
            body["previous_response_id"] = json!(format!("resp_{}", n - 1));
        }
        assert_eq!(post(&base, &body).await, 200);
    }
    let log = daemon.kill();
    assert!(!log.contains("panicked"), "{log}");

    let daemon = start();
    let base = format!("http://{}", daemon.address().await);
    for n in 0..TURNS {
        let got: Value = client
            .get(format!("{base}/v1/responses/resp_{n}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            got["output"][1]["content"][0]["text"],
            json!(format!("answer {n}")),
            "resp_{n}"
        );
    }
    script(&mock, reasoned("resp_next", "next"));
    let body = json!({"model": "gpt-5", "input": "again", "previous_response_id": format!("resp_{}", TURNS - 1)});
    assert_eq!(post(&base, &body).await, 200);
    let sent = mock.last_seen().body["input"].as_array().unwrap().len();
    assert_eq!(
        sent,
        3 * TURNS + 1,
        "every earlier turn's input, reasoning and answer"
    );
    daemon.stop().await;
}
