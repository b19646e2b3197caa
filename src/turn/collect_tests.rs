//! Unit tests of `collect`, beside it to keep the module short.
use super::*;

/// One event, as upstream frames it.
fn push(c: &mut Collector, event: Value) -> Option<Outcome> {
    let kind = event["type"].as_str().unwrap().to_owned();
    c.push_block(&Bytes::from(format!("event: {kind}\ndata: {event}\n\n")))
}

fn finished(out: Option<Outcome>) -> Value {
    match out {
        Some(Outcome::Finished(c)) => c.to_value(),
        other => panic!("not finished: {other:?}"),
    }
}

#[test]
fn empty_completed_output_is_rebuilt_in_output_index_order() {
    let mut c = Collector::default();
    assert_eq!(
        push(
            &mut c,
            json!({"type":"response.created","response":{"id":"r","output":[]}})
        ),
        None
    );
    push(
        &mut c,
        json!({"type":"response.output_item.done","output_index":1,"item":{"id":"b"}}),
    );
    push(
        &mut c,
        json!({"type":"response.output_item.done","output_index":0,"item":{"id":"a"}}),
    );
    let out = push(
        &mut c,
        json!({"type":"response.completed","response":{"id":"r","status":"completed","output":[]}}),
    );
    assert_eq!(
        finished(out),
        json!({"id":"r","status":"completed","output":[{"id":"a"},{"id":"b"}]})
    );
}

#[test]
fn the_collected_object_keeps_upstream_field_order_and_text() {
    let mut c = Collector::default();
    push(
        &mut c,
        json!({"type":"response.output_item.done","output_index":0,"item":{"id":"a","z":1,"b":2}}),
    );
    let out = c.push_block(&Bytes::from_static(
        br#"data: {"type":"response.completed","response":{"zeta":1,"id":"r","output":[ ],"usage":{"total_tokens":3}}}

"#,
    ));
    let Some(Outcome::Finished(collected)) = out else {
        panic!("{out:?}")
    };
    assert_eq!(
        String::from_utf8(collected.to_vec()).unwrap(),
        r#"{"zeta":1,"id":"r","output":[{"id":"a","z":1,"b":2}],"usage":{"total_tokens":3}}"#
    );
}

#[test]
fn a_missing_output_is_added_and_the_created_response_stands_in_for_a_missing_one() {
    let mut c = Collector::default();
    push(
        &mut c,
        json!({"type":"response.in_progress","response":{"id":"r","status":"in_progress"}}),
    );
    push(
        &mut c,
        json!({"type":"response.output_item.done","output_index":0,"item":{"id":"a"}}),
    );
    let out = push(&mut c, json!({"type":"response.completed"}));
    assert_eq!(
        finished(out),
        json!({"id":"r","status":"in_progress","output":[{"id":"a"}]})
    );
}

#[test]
fn a_full_completed_output_is_kept_as_sent() {
    let mut c = Collector::default();
    push(
        &mut c,
        json!({"type":"response.output_item.done","output_index":0,"item":{"id":"other"}}),
    );
    let out = push(
        &mut c,
        json!({"type":"response.completed","response":{"output":[{"id":"kept"}]}}),
    );
    assert_eq!(finished(out), json!({"output":[{"id":"kept"}]}));
}

#[test]
fn text_deltas_rebuild_a_message_that_never_finished() {
    let mut c = Collector::default();
    push(
        &mut c,
        json!({"type":"response.output_item.added","output_index":0,"item":{"type":"message","role":"assistant","content":[]}}),
    );
    push(
        &mut c,
        json!({"type":"response.output_text.delta","output_index":0,"delta":"Hel"}),
    );
    push(
        &mut c,
        json!({"type":"response.output_text.delta","output_index":0,"delta":"lo"}),
    );
    let out = push(
        &mut c,
        json!({"type":"response.completed","response":{"output":[]}}),
    );
    assert_eq!(
        finished(out),
        json!({"output":[{"type":"message","role":"assistant","status":"completed",
            "content":[{"type":"output_text","text":"Hello","annotations":[]}]}]})
    );
}

#[test]
fn blocks_are_released_once_every_item_is_done_and_an_open_item_keeps_its_text() {
    let mut c = Collector::default();
    let message = json!({"type":"message","role":"assistant","content":[]});
    let done = json!({"type":"message","role":"assistant","status":"completed",
        "content":[{"type":"output_text","text":"A","annotations":[]}]});
    push(
        &mut c,
        json!({"type":"response.output_item.added","output_index":0,"item":message}),
    );
    push(
        &mut c,
        json!({"type":"response.output_text.delta","output_index":0,"delta":"A"}),
    );
    assert_eq!(c.blocks.len(), 2);
    push(
        &mut c,
        json!({"type":"response.output_item.done","output_index":0,"item":done}),
    );
    assert!(
        c.blocks.is_empty(),
        "a finished item's deltas are still held"
    );
    push(
        &mut c,
        json!({"type":"response.output_item.added","output_index":1,"item":message}),
    );
    push(
        &mut c,
        json!({"type":"response.output_text.delta","output_index":1,"delta":"B"}),
    );
    let out = push(
        &mut c,
        json!({"type":"response.completed","response":{"output":[]}}),
    );
    let mut open = done.clone();
    open["content"][0]["text"] = json!("B");
    assert_eq!(finished(out), json!({"output":[done, open]}));
}

#[test]
fn an_unreadable_terminal_event_is_a_failure_not_an_answer() {
    let mut c = Collector::default();
    push(
        &mut c,
        json!({"type":"response.created","response":{"status":"in_progress"}}),
    );
    let out = c.push_block(&Bytes::from_static(
        b"event: response.completed\ndata: [1,2,3]\n\n",
    ));
    assert!(
        matches!(&out, Some(Outcome::Failed(e)) if e["code"] == "upstream_malformed_event"),
        "{out:?}"
    );
}

#[test]
fn failed_and_error_events_yield_the_error_object() {
    let mut c = Collector::default();
    let out = push(
        &mut c,
        json!({"type":"response.failed","response":{"error":{"code":"slow_down","message":"m"}}}),
    );
    assert_eq!(
        out,
        Some(Outcome::Failed(json!({"code":"slow_down","message":"m"})))
    );
    let mut c = Collector::default();
    let out = push(&mut c, json!({"type":"error","code":"x","message":"m"}));
    assert_eq!(
        out,
        Some(Outcome::Failed(
            json!({"type":"error","code":"x","message":"m"})
        ))
    );
}
