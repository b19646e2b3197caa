//! Thinking across turns, and images.

use serde_json::{Value, json};

use super::common::{MockBackend, TestProxy};
use super::{anthropic_events, completed_with_usage, create, events, response};

/// A reasoning item (summary streamed, encrypted content in the finished
/// item) and then a text answer.
fn thinking_then_text(summary: &str, encrypted: &str, text: &str) -> Vec<Value> {
    let reasoning = json!({"type": "reasoning", "id": "rs_1", "encrypted_content": encrypted,
                           "summary": [{"type": "summary_text", "text": summary}]});
    let message = json!({"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
                         "content": [{"type": "output_text", "text": text, "annotations": []}]});
    vec![
        json!({"type": "response.created", "response": response("in_progress")}),
        json!({"type": "response.output_item.added", "output_index": 0,
               "item": {"type": "reasoning", "id": "rs_1", "summary": []}}),
        json!({"type": "response.reasoning_summary_text.delta", "output_index": 0,
               "item_id": "rs_1", "summary_index": 0, "delta": summary}),
        json!({"type": "response.output_item.done", "output_index": 0, "item": reasoning}),
        json!({"type": "response.output_item.added", "output_index": 1,
               "item": {"type": "message", "id": "msg_1", "role": "assistant", "content": []}}),
        json!({"type": "response.output_text.delta", "output_index": 1, "item_id": "msg_1",
               "content_index": 0, "delta": text}),
        json!({"type": "response.output_item.done", "output_index": 1, "item": message}),
        completed_with_usage(),
    ]
}

#[tokio::test]
async fn thinking_goes_back_upstream_as_the_reasoning_item_it_came_from() {
    let mock = MockBackend::start().await;
    mock.push_answer(events(thinking_then_text(
        "Weighing it.",
        "gAAAA-secret.x",
        "Four.",
    )));
    let proxy = TestProxy::start(&mock).await;
    let question = json!({"role": "user", "content": "2+2?"});
    let request = |messages: Value| {
        json!({"model": "gpt-5", "max_tokens": 2048, "messages": messages,
               "thinking": {"type": "enabled", "budget_tokens": 8000}})
    };
    let (status, first) = create(&proxy, &request(json!([question]))).await;
    assert_eq!(status, 200);
    let thinking = &first["content"][0];
    assert_eq!(
        (
            &thinking["type"],
            &thinking["thinking"],
            &first["content"][1]
        ),
        (
            &json!("thinking"),
            &json!("Weighing it."),
            &json!({"type": "text", "text": "Four."})
        )
    );
    let sent = mock.last_seen().body;
    assert_eq!(
        (&sent["reasoning"], &sent["include"]),
        (
            &json!({"effort": "medium", "summary": "auto"}),
            &json!(["reasoning.encrypted_content"])
        )
    );

    let next = json!([question, {"role": "assistant", "content": first["content"]},
                      {"role": "user", "content": "And 3+3?"}]);
    assert_eq!(create(&proxy, &request(next)).await.0, 200);
    let input = mock.last_seen().body["input"].clone();
    assert_eq!(
        input[1],
        json!({"type": "reasoning", "encrypted_content": "gAAAA-secret.x",
               "summary": [{"type": "summary_text", "text": "Weighing it."}]})
    );
    assert_eq!(input[2]["role"], "assistant");
}

#[tokio::test]
async fn streamed_thinking_ends_with_its_signature() {
    let mock = MockBackend::start().await;
    mock.push_answer(events(thinking_then_text("Hmm.", "enc", "Yes.")));
    let proxy = TestProxy::start(&mock).await;
    let request = json!({"model": "gpt-5", "max_tokens": 64, "stream": true,
        "thinking": {"type": "adaptive"}, "messages": [{"role": "user", "content": "?"}]});
    let text = proxy
        .post("/v1/messages", &request)
        .await
        .text()
        .await
        .unwrap();
    let deltas: Vec<(u64, Value)> = anthropic_events(&text)
        .into_iter()
        .filter(|(name, _)| name == "content_block_delta")
        .map(|(_, d)| (d["index"].as_u64().unwrap(), d["delta"].clone()))
        .collect();
    let signature = deltas[1].1["signature"].as_str().unwrap().to_owned();
    assert!(signature.starts_with("cxr1."), "{signature}");
    assert_eq!(
        deltas,
        vec![
            (0, json!({"type": "thinking_delta", "thinking": "Hmm."})),
            (
                0,
                json!({"type": "signature_delta", "signature": signature})
            ),
            (1, json!({"type": "text_delta", "text": "Yes."})),
        ]
    );
}

#[tokio::test]
async fn images_go_upstream_as_input_images() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let request = json!({"model": "gpt-5", "max_tokens": 64, "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What differs?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "url", "url": "https://images.test/b.jpg"}},
    ]}]});
    assert_eq!(create(&proxy, &request).await.0, 200);
    assert_eq!(
        mock.last_seen().body["input"],
        json!([{"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "What differs?"},
            {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo="},
            {"type": "input_image", "image_url": "https://images.test/b.jpg"},
        ]}])
    );
}
