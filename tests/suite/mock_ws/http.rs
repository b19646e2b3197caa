//! The mock's HTTP side of PROTOCOL.md §9-§12: compaction, the legacy
//! compact endpoint, turn state and answer headers, compressed bodies, the
//! usage endpoint, and the `output: []` of its `response.completed`.

use std::io::Write;

use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use super::common::mock::{self, Answer, Encoding, MockBackend};
use super::common::sse_data;
use super::user;

/// A client sending the headers of the Codex CLI with a login the mock accepts.
fn client(mock: &MockBackend) -> reqwest::Client {
    let login = mock.login(mock::now_secs() + 3600);
    let access = login["tokens"]["access_token"].as_str().unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("authorization", format!("Bearer {access}").parse().unwrap());
    headers.insert("chatgpt-account-id", mock::ACCOUNT_ID.parse().unwrap());
    headers.insert("originator", "codex_cli_rs".parse().unwrap());
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

fn body(input: Value) -> Value {
    json!({"model": "gpt-5", "instructions": "Be brief.", "input": input, "store": false, "stream": true})
}

async fn post(mock: &MockBackend, client: &reqwest::Client, body: &Value) -> reqwest::Response {
    let url = format!("{}/responses", mock.upstream_url());
    client.post(url).json(body).send().await.unwrap()
}

#[tokio::test]
async fn a_compaction_trigger_over_http_is_answered_with_one_item_a_later_request_may_carry() {
    let mock = MockBackend::start().await;
    let client = client(&mock);
    let trigger = body(json!([user("one"), {"type": "compaction_trigger"}]));
    let events = sse_data(&post(&mock, &client, &trigger).await.text().await.unwrap());
    let (id, content) = mock.state.compactions_issued.lock().unwrap()[0].clone();
    let item = mock::compaction_item(&id, &content);
    assert_eq!(
        events,
        mock::compaction_answer("resp_mock_compaction", &item)
    );
    assert!(id.starts_with("cmp_"));

    let carried = post(&mock, &client, &body(json!([item, user("two")]))).await;
    assert_eq!(carried.status(), 200);
    assert_eq!(mock.compactions_accepted(), 1);
    let forged = mock::compaction_item(&id, "enc_rewritten");
    let refused = post(&mock, &client, &body(json!([forged, user("two")]))).await;
    assert_eq!(refused.status(), 400);
    assert_eq!(mock.compactions_accepted(), 1);
}

#[tokio::test]
async fn the_legacy_compact_endpoint_answers_json_and_refuses_stream_and_store() {
    let mock = MockBackend::start().await;
    let client = client(&mock);
    let url = format!("{}/responses/compact", mock.upstream_url());
    let request =
        json!({"model": "gpt-5", "instructions": "Be brief.", "input": [user("one")], "tools": []});
    let answer: Value = client
        .post(&url)
        .json(&request)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (id, content) = mock.state.compactions_issued.lock().unwrap()[0].clone();
    assert_eq!(
        answer,
        json!({"output": [user("one"), mock::compaction_item(&id, &content)]})
    );
    assert_eq!(mock.last_seen().route, mock::Route::Compact);

    let mut streamed = request.clone();
    streamed["stream"] = json!(true);
    let refused = client.post(&url).json(&streamed).send().await.unwrap();
    assert_eq!(refused.status(), 400);
    let detail: Value = refused.json().await.unwrap();
    assert_eq!(detail, json!({"detail": "Unsupported parameter: stream"}));
    assert_eq!(mock.compact_calls(), 2);
}

#[tokio::test]
async fn a_turn_state_is_issued_per_turn_and_kept_when_sent_back() {
    let mock = MockBackend::start().await;
    let client = client(&mock);
    let request = body(json!([user("one")]));
    let first = post(&mock, &client, &request).await;
    let state = first.headers()["x-codex-turn-state"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(first.headers()["x-models-etag"], "\"models-v1\"");
    assert_eq!(first.headers()["openai-model"], "gpt-5");
    assert_eq!(first.headers()["x-reasoning-included"], "true");
    assert_eq!(first.headers()["x-codex-secondary-window-minutes"], "10080");

    let url = format!("{}/responses", mock.upstream_url());
    let same_turn = client
        .post(&url)
        .header("x-codex-turn-state", &state)
        .json(&request);
    let same_turn = same_turn.send().await.unwrap();
    assert_eq!(same_turn.headers()["x-codex-turn-state"], state.as_str());
    assert_eq!(mock.last_seen().turn_state.as_deref(), Some(state.as_str()));
    let next_turn = post(&mock, &client, &request).await;
    assert_ne!(next_turn.headers()["x-codex-turn-state"], state.as_str());
    assert_eq!(mock.turn_states_issued().len(), 2);
}

#[tokio::test]
async fn zstd_and_gzip_bodies_are_decoded_and_recorded_as_compressed() {
    let mock = MockBackend::start().await;
    let client = client(&mock);
    let url = format!("{}/responses", mock.upstream_url());
    let request = body(json!([user("compressed")]));
    let plain = serde_json::to_vec(&request).unwrap();
    let zstd = zstd::encode_all(&plain[..], 3).unwrap();
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all(&plain).unwrap();
    let gzip = gzip.finish().unwrap();
    for (name, bytes, encoding) in [
        ("zstd", zstd, Encoding::Zstd),
        ("gzip", gzip, Encoding::Gzip),
    ] {
        let response = client
            .post(&url)
            .header("content-encoding", name)
            .header("content-type", "application/json")
            .body(bytes)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{name}");
        let seen = mock.last_seen();
        assert_eq!(
            (seen.body, seen.encoding),
            (request.clone(), Some(encoding))
        );
    }
    let unknown = client
        .post(&url)
        .header("content-encoding", "br")
        .body(plain);
    assert_eq!(unknown.send().await.unwrap().status(), 415);
}

#[tokio::test]
async fn a_compression_bomb_is_a_413_not_an_allocation() {
    let mock = MockBackend::start().await;
    let zeros = vec![b' '; mock::MAX_DECODED_BYTES + 1];
    let bomb = zstd::encode_all(&zeros[..], 3).unwrap();
    let url = format!("{}/responses", mock.upstream_url());
    let response = client(&mock)
        .post(url)
        .header("content-encoding", "zstd")
        .body(bomb);
    assert_eq!(response.send().await.unwrap().status(), 413);
}

#[tokio::test]
async fn the_usage_endpoint_answers_beside_codex_with_a_login_only() {
    let mock = MockBackend::start().await;
    let client = client(&mock);
    let beside = format!(
        "{}/backend-api/wham/usage",
        mock.upstream_url().trim_end_matches("/backend-api/codex")
    );
    assert_eq!(beside, mock.usage_url());
    let body: Value = client
        .get(&beside)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body, *mock.state.usage.lock().unwrap());
    let anonymous = reqwest::get(&beside).await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(mock.usage_calls(), 2);
    let under = format!("{}/api/codex/usage", mock.upstream_url());
    assert_eq!(client.get(&under).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn the_streamed_completed_keeps_an_empty_output_unless_a_test_backfills_it() {
    let mock = MockBackend::start().await;
    let client = client(&mock);
    let request = body(json!([user("one")]));
    let events = sse_data(&post(&mock, &client, &request).await.text().await.unwrap());
    assert_eq!(events.last().unwrap()["response"]["output"], json!([]));

    let backfilled = mock::backfilled(mock::text_answer("Filled.", 2));
    mock.push_answer(Answer::Events {
        events: backfilled,
        pace: std::time::Duration::ZERO,
    });
    let events = sse_data(&post(&mock, &client, &request).await.text().await.unwrap());
    assert_eq!(
        events.last().unwrap()["response"]["output"],
        json!([mock::text_message("Filled.")])
    );
}
