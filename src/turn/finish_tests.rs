//! The answer's end against its contract: only the terminal event changes,
//! reasoning content goes only to a client that asked, and a kept answer
//! is in the store once the terminal block exists.

use serde_json::json;

use super::*;
use crate::store::{StoreMode, StoreOptions};
use crate::turn::collect::{Collector, Outcome};

fn frame(event: &Value) -> String {
    format!(
        "event: {}\ndata: {event}\n\n",
        event["type"].as_str().unwrap()
    )
}

fn reasoning(sealed: bool) -> Value {
    let mut item = json!({"type": "reasoning", "id": "rs_1", "summary": []});
    if sealed {
        item["encrypted_content"] = json!("gAAA-sealed");
    }
    item
}

fn message() -> Value {
    json!({"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
           "content": [{"type": "output_text", "text": "hi", "annotations": []}]})
}

fn completed(output: Value) -> Value {
    json!({"type": "response.completed", "sequence_number": 9,
           "response": {"id": "resp_1", "object": "response", "status": "completed", "output": output}})
}

/// The events of an answer: a reasoning item, a message, then `completed`
/// with `output: []`, as the backend sends it; the last block holds the
/// message's `done` and the terminal event.
fn answer() -> (Bytes, Bytes) {
    let first = frame(
        &json!({"type": "response.output_item.done", "output_index": 0, "item": reasoning(true)}),
    );
    let last =
        frame(&json!({"type": "response.output_item.done", "output_index": 1, "item": message()}))
            + &frame(&completed(json!([])));
    (Bytes::from(first), Bytes::from(last))
}

fn collected(blocks: &[&Bytes]) -> Collected {
    let mut collector = Collector::default();
    for block in blocks {
        if let Some(Outcome::Finished(response)) = collector.push_block(block) {
            return response;
        }
    }
    panic!("no terminal event");
}

fn data(block: &[u8]) -> Vec<Value> {
    sse::events(block)
        .map(|e| serde_json::from_str(&e.data).unwrap())
        .collect()
}

#[tokio::test]
async fn only_the_terminal_event_changes_and_it_carries_the_rebuilt_output() {
    let (first, last) = answer();
    let finish = Finish::default();
    assert_eq!(finish.event_block(first.clone()).as_ptr(), first.as_ptr());
    let out = finish
        .terminal_block(&last, collected(&[&first, &last]))
        .await;
    let head =
        frame(&json!({"type": "response.output_item.done", "output_index": 1, "item": message()}));
    assert!(
        out.starts_with(head.as_bytes()),
        "the event before the terminal one changed"
    );
    assert!(out.ends_with(b"\n\n"));
    assert_eq!(
        data(&out)[1],
        completed(json!([reasoning(true), message()]))
    );
}

#[tokio::test]
async fn reasoning_content_the_client_did_not_ask_for_is_removed_everywhere() {
    let (first, last) = answer();
    let finish = Finish {
        strip_reasoning: true,
        previous_response_id: Some("resp_0".into()),
        ..Finish::default()
    };
    assert_eq!(
        data(&finish.event_block(first.clone())),
        vec![
            json!({"type": "response.output_item.done", "output_index": 0, "item": reasoning(false)})
        ]
    );
    let compaction = Bytes::from(frame(
        &json!({"type": "response.output_item.done", "output_index": 0,
        "item": {"type": "compaction", "id": "cmp_1", "encrypted_content": "keep"}}),
    ));
    assert_eq!(finish.event_block(compaction.clone()), compaction);
    let out = finish
        .terminal_block(&last, collected(&[&first, &last]))
        .await;
    let mut want = completed(json!([reasoning(false), message()]));
    want["response"]["previous_response_id"] = json!("resp_0");
    assert_eq!(data(&out)[1], want);
}

#[tokio::test]
async fn a_kept_answer_is_committed_with_its_reasoning_before_the_terminal_block_exists() {
    let store = Store::open(&StoreOptions {
        mode: StoreMode::Memory,
        ..StoreOptions::default()
    })
    .unwrap();
    let input = vec![json!({"type": "message", "role": "user", "content": "hello"})];
    let finish = Finish {
        strip_reasoning: true,
        keep: Some(Keep {
            store: store.clone(),
            input: store.name_input(Bytes::from(serde_json::to_vec(&input).unwrap())),
        }),
        ..Finish::default()
    };
    let (first, last) = answer();
    let out = finish
        .terminal_block(&last, collected(&[&first, &last]))
        .await;
    let stored = store.get("resp_1").await.unwrap().unwrap();
    assert_eq!(stored.output(), [reasoning(true), message()]);
    assert_eq!(stored.input[0]["content"], "hello");
    assert_eq!(
        data(&out)[1]["response"]["output"],
        json!([reasoning(false), message()])
    );
}

#[tokio::test]
async fn a_collected_answer_is_the_same_object_as_the_streamed_terminal_events() {
    let (first, last) = answer();
    let finish = Finish {
        previous_response_id: Some("resp_0".into()),
        ..Finish::default()
    };
    let whole = finish.clone().response(collected(&[&first, &last])).await;
    let streamed = finish
        .terminal_block(&last, collected(&[&first, &last]))
        .await;
    assert_eq!(
        serde_json::from_slice::<Value>(&whole).unwrap(),
        data(&streamed)[1]["response"]
    );
}
