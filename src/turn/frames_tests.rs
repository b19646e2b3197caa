use super::*;

/// The backend's rules as the pipeline applies them to a frame.
fn rules() -> impl Fn(Map<String, Value>) -> Result<Patched, ApiError> {
    let rules = crate::patch::Rules {
        instructions: "be brief".into(),
        strip_fields: vec!["temperature".into()],
    };
    move |body| crate::patch::patch(body, &rules)
}

#[test]
fn a_create_frame_is_patched_as_an_http_body_and_keeps_its_socket_fields() {
    let text = json!({
        "type": "response.create", "model": "gpt-5", "input": [],
        "previous_response_id": "resp_1", "generate": false,
        "client_metadata": {"x-codex-turn-state": "ts_1"},
        "store": true, "temperature": 0.2,
    })
    .to_string();
    let ClientFrame::Create(body) = read(&text, rules()) else {
        panic!("not read as a request");
    };
    assert_eq!(
        Value::Object(body),
        json!({
            "type": "response.create", "model": "gpt-5", "input": [],
            "previous_response_id": "resp_1", "generate": false,
            "client_metadata": {"x-codex-turn-state": "ts_1"},
            "store": false, "stream": true, "instructions": "be brief",
        })
    );
}

#[test]
fn frames_that_are_not_requests_are_told_apart() {
    let kind = |text: &str| match read(text, rules()) {
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
