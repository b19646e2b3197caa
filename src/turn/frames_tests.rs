use super::*;

/// The model resolved and the backend's rules applied, as the pipeline
/// does to a frame.
fn rules() -> impl Fn(&mut RawRequest) -> Result<(), ApiError> {
    let rules = crate::patch::Rules {
        instructions: "be brief".into(),
        strip_fields: vec!["temperature".into()],
    };
    move |frame| {
        let efforts = crate::models::aliases::Efforts::default();
        crate::wire::rules::resolve_model(frame, &Default::default(), &efforts)?;
        crate::wire::rules::patch(frame, &rules).map(drop)
    }
}

fn create(text: &str) -> Create {
    match read(Bytes::from(text.to_owned()), rules()) {
        ClientFrame::Create(create) => create,
        other => panic!("not read as a request: {other:?}"),
    }
}

#[test]
fn a_create_frame_is_patched_as_an_http_body_and_keeps_its_socket_fields() {
    let text = json!({
        "type": "response.create", "model": "gpt-5", "input": [],
        "previous_response_id": "resp_1", "generate": false,
        "client_metadata": {"x-codex-turn-state": "ts_1"},
        "store": true, "temperature": 0.2,
        "prompt_cache_key": "conv-1", "reasoning": {"effort": "low"},
    })
    .to_string();
    let create = create(&text);
    assert_eq!(
        Value::Object(create.parsed().unwrap()),
        json!({
            "type": "response.create", "model": "gpt-5", "input": [],
            "previous_response_id": "resp_1", "generate": false,
            "client_metadata": {"x-codex-turn-state": "ts_1"},
            "store": false, "prompt_cache_key": "conv-1",
            "reasoning": {"effort": "low"}, "stream": true, "instructions": "be brief",
        })
    );
    assert_eq!(create.model.as_deref(), Some("gpt-5"));
    assert!(create.incremental);
    assert_eq!(
        Value::Object(create.head),
        json!({"prompt_cache_key": "conv-1", "reasoning": {"effort": "low"}})
    );
}

#[test]
fn a_frame_that_needs_no_change_goes_on_as_the_clients_own_bytes() {
    let text = Bytes::from_static(
        br#"{ "type" : "response.create", "model":"gpt-5", "instructions": "x",
            "input": [ {"type":"message", "role":"user", "content":"\u00e9"} ],
            "store":false, "stream":true }"#,
    );
    let ClientFrame::Create(create) = read(text.clone(), rules()) else {
        panic!("not read as a request");
    };
    assert_eq!(create.text, text);
    assert_eq!(create.text.as_ptr(), text.as_ptr());
    assert!(!create.incremental);
}

#[test]
fn a_changed_frame_keeps_its_other_fields_bytes_as_sent() {
    let input = r#"[ {"type":"message", "content":"\u00e9  spaced"} ]"#;
    let text = format!(r#"{{"type":"response.create","model":"gpt-5","input": {input} }}"#);
    let create = create(&text);
    let written = std::str::from_utf8(&create.text).unwrap();
    assert!(
        written.starts_with(&format!(
            r#"{{"type":"response.create","model":"gpt-5","input":{input},"#
        )),
        "{written}"
    );
}

#[test]
fn a_malformed_frame_is_refused_in_the_words_of_a_parse_of_the_whole_frame() {
    let refusal = |text: &str| match read(Bytes::from(text.to_owned()), rules()) {
        ClientFrame::Refused(e) => e.message,
        other => panic!("{text}: not refused: {other:?}"),
    };
    for text in ["", "{", "{} x", r#"{"type":"response.create","#] {
        let e = serde_json::from_str::<Value>(text).unwrap_err();
        assert_eq!(refusal(text), format!("the frame is not valid JSON: {e}"));
    }
    // A lone surrogate only a parse finds, in a field the rules read.
    let text = r#"{"type":"response.create","model":"\ud800","input":[]}"#;
    let e = serde_json::from_str::<Value>(text).unwrap_err();
    assert_eq!(refusal(text), format!("the frame is not valid JSON: {e}"));
    assert_eq!(refusal("[1]"), "a frame must be a JSON object");
    assert_eq!(refusal("\"x\""), "a frame must be a JSON object");
    assert_eq!(
        refusal(r#"{"type":5}"#),
        "a frame needs a `type`, such as response.create"
    );
}

#[test]
fn frames_that_are_not_requests_are_told_apart() {
    let kind = |text: &str| match read(Bytes::from(text.to_owned()), rules()) {
        ClientFrame::Create(_) => "create".to_owned(),
        ClientFrame::Legacy => "legacy".to_owned(),
        ClientFrame::Unknown(kind) => format!("unknown {kind}"),
        ClientFrame::Refused(e) => format!("refused {}: {}", e.status.as_u16(), e.message),
    };
    assert_eq!(kind(r#"{"type":"response.append","input":[]}"#), "legacy");
    assert_eq!(kind(r#"{"type":"response.processed"}"#), "legacy");
    assert_eq!(
        kind(r#"{"type":"response.cancel"}"#),
        "unknown response.cancel"
    );
    assert_eq!(kind(r#"[1]"#), "refused 400: a frame must be a JSON object");
    assert_eq!(
        kind(r#"{"model":"gpt-5"}"#),
        "refused 400: a frame needs a `type`, such as response.create"
    );
    assert!(kind("{").starts_with("refused 400: the frame is not valid JSON"));
    assert_eq!(
        kind(r#"{"type":"response.create","input":[]}"#),
        "refused 400: `model` is required"
    );
}

#[test]
fn our_failures_are_wrapped_as_the_backend_wraps_its_errors() {
    let e = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::RateLimit,
        Some("usage_limit_reached"),
        "the ChatGPT usage limit was reached",
    )
    .with_retry_after(Some(90));
    let frame: Value = serde_json::from_str(&wrapped(&e)).unwrap();
    assert_eq!(
        frame,
        json!({"type": "error", "status": 429, "error": {"type": "rate_limit_error",
            "code": "usage_limit_reached", "message": "the ChatGPT usage limit was reached"},
            "headers": {"retry-after": "90"}})
    );
    let frame: Value = serde_json::from_str(&wrapped(&previous_not_found("resp_9"))).unwrap();
    assert_eq!(
        frame,
        json!({"type": "error", "status": 400, "error": {"type": "invalid_request_error",
            "code": "previous_response_not_found",
            "message": "Previous response with id 'resp_9' not found."}})
    );
}

#[test]
fn a_turn_ends_at_a_terminal_frame_with_its_status() {
    let cases = [
        (
            json!({"type": "response.output_text.delta", "delta": "x"}),
            None,
        ),
        (json!({"type": "response.metadata", "headers": {}}), None),
        (json!({"type": "codex.rate_limits"}), None),
        (
            json!({"type": "response.completed", "response": {}}),
            Some(200),
        ),
        (
            json!({"type": "response.failed", "response": {}}),
            Some(200),
        ),
        (
            json!({"type": "response.incomplete", "response": {}}),
            Some(200),
        ),
        (
            json!({"type": "error", "status": 429, "error": {}}),
            Some(429),
        ),
        (
            json!({"type": "error", "status_code": 400, "error": {}}),
            Some(400),
        ),
        (
            json!({"type": "error", "code": "x", "message": "m"}),
            Some(502),
        ),
    ];
    for (frame, status) in cases {
        assert_eq!(turn_end(&frame.to_string()), status, "{frame}");
    }
}

#[test]
fn an_http_body_loses_only_the_fields_of_a_socket() {
    let body = json!({"type": "response.create", "model": "gpt-5", "input": [],
        "generate": true, "previous_response_id": "resp_1",
        "client_metadata": {"k": "v"}, "stream": true});
    let body = for_http(body.as_object().unwrap().clone());
    assert_eq!(
        Value::Object(body),
        json!({"model": "gpt-5", "input": [], "client_metadata": {"k": "v"}, "stream": true})
    );
}

#[test]
fn an_error_frame_that_is_not_json_still_ends_the_turn_as_a_502() {
    // Found by the websocket_frame fuzz target: the kind is read from the
    // frame's start, the status needs the whole frame.
    let broken = r#"{"type":"error","status":429,"error":{"type":"usage_limit_reached"},"#;
    assert_eq!(turn_end(broken), Some(502));
}
