//! A `response.create` is patched as its top-level fields' bytes: a frame
//! that needs no change reaches the backend as the client sent it, a
//! changed one keeps its other fields' bytes, and a malformed one gets the
//! error frame a parse of the whole frame words.

use super::*;

/// A frame the rules leave alone: instructions, `store: false`, `stream:
/// true`, and a list `input`, with the client's own spacing and escapes.
const AS_SENT: &str = r#"{ "type" : "response.create", "model":"MODEL",
  "instructions": "Be brief.\u00e9", "input": [ {"type": "message", "role": "user",
  "content": [ {"type": "input_text", "text": "one  \u00e9"} ] } ],
  "tools": [], "store": false, "stream": true, "prompt_cache_key": "conv-1" }"#;

/// The same fields written with no space between them, as the proxy writes
/// a frame it changed: only the values keep the client's bytes.
const COMPACT: &str = r#"{"type":"response.create","model":"MODEL","instructions":"Be brief.\u00e9","input":[ {"type": "message", "role": "user",
  "content": [ {"type": "input_text", "text": "one  \u00e9"} ] } ],"tools":[],"store":false,"stream":true,"prompt_cache_key":"conv-1"}"#;

#[tokio::test]
async fn a_frame_that_needs_no_change_reaches_the_backend_byte_identical() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let mut socket = connect(&proxy).await;
    let text = AS_SENT.replace("MODEL", "gpt-5");
    socket.send(Message::text(text.clone())).await.unwrap();
    assert_eq!(answer(&mut socket).await, full_answer(&mock, 1, 1));
    let seen = mock.last_seen();
    assert_eq!(std::str::from_utf8(&seen.raw).unwrap(), text);
}

#[tokio::test]
async fn an_alias_model_is_rewritten_and_the_other_fields_bytes_are_untouched() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start_with(&mock, |c| {
        c.model_aliases
            .insert("house-model".into(), "gpt-5.1-codex".into());
    })
    .await;
    let mut socket = connect(&proxy).await;
    let text = AS_SENT.replace("MODEL", "house-model");
    socket.send(Message::text(text)).await.unwrap();
    let frames = answer(&mut socket).await;
    assert_eq!(frames.last().unwrap()["type"], "response.completed");
    let seen = mock.last_seen();
    assert_eq!(
        std::str::from_utf8(&seen.raw).unwrap(),
        COMPACT.replace("MODEL", "gpt-5.1-codex")
    );
}

#[tokio::test]
async fn a_malformed_frame_gets_the_error_frame_a_parse_of_the_whole_frame_words() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    let mut socket = connect(&proxy).await;
    // Text that is not JSON, in the words of the parse of the whole frame
    // that read every frame before.
    let not_json = |text: &str| {
        let e = serde_json::from_str::<Value>(text).unwrap_err();
        (text.to_owned(), format!("the frame is not valid JSON: {e}"))
    };
    let given = |text: &str, message: &str| (text.to_owned(), message.to_owned());
    let cases = [
        given(
            "{",
            "the frame is not valid JSON: EOF while parsing an object at line 1 column 1",
        ),
        not_json(r#"{"type":"response.create","model":"gpt-5","input":[]} x"#),
        // A lone surrogate, which only a parse finds, in a field the rules read.
        not_json(r#"{"type":"response.create","model":"\ud800","input":[]}"#),
        given("[1]", "a frame must be a JSON object"),
        given(
            r#"{"model":"gpt-5"}"#,
            "a frame needs a `type`, such as response.create",
        ),
        given(
            r#"{"type":"response.create","input":[]}"#,
            "`model` is required",
        ),
        given(
            r#"{"type":"response.create","model":"gpt-5","input":[],"stream":"yes"}"#,
            "`stream` must be a boolean, not a string",
        ),
    ];
    for (text, message) in cases {
        socket.send(Message::text(text.clone())).await.unwrap();
        let expected = json!({"type": "error", "status": 400,
            "error": {"type": "invalid_request_error", "code": null, "message": message}});
        assert_eq!(next_frame(&mut socket).await, expected, "{text}");
    }
    // None reached the backend, and the socket still takes a request.
    assert_eq!(mock.ws_connections(), 0);
    send(&mut socket, &create(json!([user("one")]), json!({}))).await;
    assert_eq!(answer(&mut socket).await, full_answer(&mock, 1, 1));
}
