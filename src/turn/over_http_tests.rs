use super::*;

fn user(text: &str) -> Value {
    json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
}

fn body(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

fn sse(events: &[Value]) -> Vec<u8> {
    events
        .iter()
        .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap()))
        .collect::<String>()
        .into_bytes()
}

fn turn(input: Vec<Value>) -> Turn {
    Turn {
        pending: VecDeque::new(),
        events: None,
        input,
        items: Vec::new(),
    }
}

#[test]
fn a_previous_response_id_resolves_only_to_the_sockets_last_response() {
    let previous = || {
        Some(Previous {
            id: "resp_1".into(),
            history: vec![user("one"), json!({"type": "message", "role": "assistant"})],
        })
    };
    let next = body(json!({"input": [user("two")], "previous_response_id": "resp_1"}));
    assert_eq!(
        full_input(previous(), &next).unwrap(),
        vec![
            user("one"),
            json!({"type": "message", "role": "assistant"}),
            user("two")
        ]
    );
    let other = body(json!({"input": [user("two")], "previous_response_id": "resp_0"}));
    assert_eq!(
        full_input(previous(), &other).unwrap_err(),
        frames::previous_not_found("resp_0")
    );
    assert_eq!(
        full_input(None, &next).unwrap_err(),
        frames::previous_not_found("resp_1")
    );
    let fresh = body(json!({"input": [user("three")]}));
    assert_eq!(full_input(previous(), &fresh).unwrap(), vec![user("three")]);
}

#[test]
fn a_completed_answer_leaves_its_input_and_output_in_index_order() {
    let mut turn = turn(vec![user("one")]);
    let first = json!({"type": "message", "id": "a"});
    let second = json!({"type": "function_call", "id": "b"});
    let events = [
        json!({"type": "response.created", "response": {"id": "resp_7"}}),
        json!({"type": "response.output_item.done", "output_index": 1, "item": second}),
        json!({"type": "response.output_item.done", "output_index": 0, "item": first}),
    ];
    assert!(turn.take_block(&sse(&events)).is_none());
    let done = json!({"type": "response.completed", "response": {"id": "resp_7", "output": []}});
    let after = json!({"type": "response.output_text.delta"});
    let previous = turn
        .take_block(&sse(&[done.clone(), after]))
        .unwrap()
        .unwrap();
    assert_eq!(previous.id, "resp_7");
    assert_eq!(previous.history, vec![user("one"), first, second]);
    let frames: Vec<Value> = turn
        .pending
        .iter()
        .map(|f| serde_json::from_str(f).unwrap())
        .collect();
    assert_eq!(frames, [events.to_vec(), vec![done]].concat());
}

#[test]
fn a_failed_answer_leaves_nothing_to_continue_from() {
    let mut turn = turn(vec![user("one")]);
    let failed = json!({"type": "response.failed", "response": {"id": "resp_8"}});
    assert!(turn.take_block(&sse(&[failed])).unwrap().is_none());
}

#[test]
fn the_turn_state_crosses_between_client_metadata_and_headers() {
    let request = body(json!({"client_metadata": {"x-codex-turn-state": "ts_1"}}));
    let headers = with_turn_state(&HeaderMap::new(), &request);
    assert_eq!(headers["x-codex-turn-state"], "ts_1");
    let mut answer = HeaderMap::new();
    answer.insert("x-codex-turn-state", HeaderValue::from_static("ts_2"));
    answer.insert("openai-model", HeaderValue::from_static("gpt-5"));
    answer.insert(
        "x-codex-primary-used-percent",
        HeaderValue::from_static("12"),
    );
    let frame: Value = serde_json::from_str(&metadata_frame(&answer).unwrap()).unwrap();
    assert_eq!(
        frame,
        json!({"type": "response.metadata",
            "headers": {"x-codex-turn-state": "ts_2", "openai-model": "gpt-5"}})
    );
    assert!(metadata_frame(&HeaderMap::new()).is_none());
}

#[test]
fn a_prewarm_is_created_then_completed_with_no_output() {
    let frames: Vec<Value> = prewarm_answer("resp_prewarm_1", &json!("gpt-5"))
        .iter()
        .map(|f| serde_json::from_str(f).unwrap())
        .collect();
    let kinds: Vec<&str> = frames.iter().map(|f| f["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["response.created", "response.completed"]);
    assert_eq!(frames[1]["response"]["id"], "resp_prewarm_1");
    assert_eq!(frames[1]["response"]["output"], json!([]));
    assert_eq!(frames[1]["response"]["status"], "completed");
}
