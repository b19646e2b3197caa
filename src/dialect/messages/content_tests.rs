use super::*;

/// The input items for `messages`, and what was dropped.
fn items(messages: Value) -> (Value, Vec<String>) {
    let mut dropped = Dropped::default();
    match input_items(messages.as_array().unwrap(), &mut dropped) {
        Ok(items) => (Value::Array(items), dropped.0),
        Err(e) => panic!("refused: {e}"),
    }
}

fn error(messages: Value) -> String {
    let mut dropped = Dropped::default();
    match input_items(messages.as_array().unwrap(), &mut dropped) {
        Ok(items) => panic!("accepted: {items:?}"),
        Err(e) => e.message,
    }
}

fn user(text: &str) -> Value {
    json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
}

#[test]
fn images_documents_and_tool_results_keep_their_order() {
    let (got, dropped) = items(json!([
        {"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}},
            {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}},
            {"type": "document", "title": "spec.pdf",
             "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"}},
            {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "notes"}},
            {"type": "text", "text": "Read these, then list the files."},
        ]},
        {"role": "assistant", "content": [
            {"type": "text", "text": "Listing."},
            {"type": "tool_use", "id": "toolu_1", "name": "ls", "input": {"dir": "."}},
            {"type": "tool_use", "id": "toolu_2", "name": "shot", "input": {}},
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1",
             "content": [{"type": "text", "text": "a.rs"}, {"type": "text", "text": "b.rs"}]},
            {"type": "tool_result", "tool_use_id": "toolu_2", "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/"}}]},
            {"type": "text", "text": "Go on.", "cache_control": {"type": "ephemeral"}},
        ]},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_3", "name": "rm", "input": {"path": "a.rs"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_3", "is_error": true,
             "content": "permission denied"}]},
    ]));
    assert_eq!(
        got,
        json!([
            {"type": "message", "role": "user", "content": [
                {"type": "input_image", "image_url": "data:image/png;base64,iVBO"},
                {"type": "input_image", "image_url": "https://x.test/a.png"},
                {"type": "input_file", "filename": "spec.pdf",
                 "file_data": "data:application/pdf;base64,JVBE"},
                {"type": "input_text", "text": "notes"},
                {"type": "input_text", "text": "Read these, then list the files."},
            ]},
            {"type": "message", "role": "assistant",
             "content": [{"type": "output_text", "text": "Listing."}]},
            {"type": "function_call", "call_id": "toolu_1", "name": "ls", "arguments": "{\"dir\":\".\"}"},
            {"type": "function_call", "call_id": "toolu_2", "name": "shot", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "toolu_1", "output": "a.rs\nb.rs"},
            {"type": "function_call_output", "call_id": "toolu_2", "output": [
                {"type": "input_image", "image_url": "data:image/jpeg;base64,/9j/"}]},
            user("Go on."),
            {"type": "function_call", "call_id": "toolu_3", "name": "rm",
             "arguments": "{\"path\":\"a.rs\"}"},
            {"type": "function_call_output", "call_id": "toolu_3",
             "output": "Error:\npermission denied"},
        ])
    );
    assert_eq!(dropped, ["cache_control"]);
}

#[test]
fn system_messages_become_developer_messages_in_place() {
    let (got, _) = items(json!([
        {"role": "user", "content": "Hi"},
        {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
        {"role": "assistant", "content": "Hello."},
    ]));
    assert_eq!(
        got,
        json!([
            user("Hi"),
            {"type": "message", "role": "developer",
             "content": [{"type": "input_text", "text": "Be brief."}]},
            {"type": "message", "role": "assistant",
             "content": [{"type": "output_text", "text": "Hello."}]},
        ])
    );
}

#[test]
fn a_tool_search_result_names_the_tools_it_found() {
    let (got, _) = items(json!([{"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "t1", "content": [
            {"type": "tool_reference", "tool_name": "NotebookEdit"},
            {"type": "search_result", "source": "https://a.test", "title": "A",
             "content": [{"type": "text", "text": "body"}]},
        ]},
    ]}]));
    assert_eq!(
        got,
        json!([{"type": "function_call_output", "call_id": "t1",
                "output": "Tool `NotebookEdit` is available.\nA\nhttps://a.test\n\nbody"}])
    );
}

#[test]
fn an_earlier_web_search_goes_back_as_a_web_search_call() {
    let (got, dropped) = items(json!([
        {"role": "user", "content": "News?"},
        {"role": "assistant", "content": [
            {"type": "server_tool_use", "id": "srvtoolu_ws_1", "name": "web_search",
             "input": {"query": "news"}},
            {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_ws_1", "content": []},
            {"type": "text", "text": "Here."},
        ]},
    ]));
    assert_eq!(
        got,
        json!([
            user("News?"),
            {"type": "web_search_call", "status": "completed",
             "action": {"type": "search", "query": "news"}},
            {"type": "message", "role": "assistant",
             "content": [{"type": "output_text", "text": "Here."}]},
        ])
    );
    assert_eq!(dropped, ["web_search_tool_result blocks"]);
}

#[test]
fn malformed_content_gets_a_message_naming_the_field() {
    let cases = [
        (
            json!([{"role": "bot", "content": "x"}]),
            "`messages[0].role` is 'bot'; it must be 'user', 'assistant' or 'system'",
        ),
        (json!([{"content": "x"}]), "`messages[0].role` is required"),
        (
            json!([{"role": "user"}]),
            "`messages[0].content` is required",
        ),
        (
            json!([{"role": "user", "content": 5}]),
            "`messages[0].content` must be a string or an array of content blocks",
        ),
        (
            json!([{"role": "user", "content": [{"text": "x"}]}]),
            "`messages[0].content[0].type` is required",
        ),
        (
            json!([{"role": "user", "content": [{"type": "video"}]}]),
            "`messages[0].content[0].type` is 'video'; a user message may hold text, image, \
             document, search_result and tool_result blocks",
        ),
        (
            json!([{"role": "user", "content": [
                {"type": "image", "source": {"type": "file", "file_id": "f1"}}]}]),
            "`messages[0].content[0].source.type` is 'file'; it must be base64 or url \
             (the Files API is not supported)",
        ),
        (
            json!([{"role": "user", "content": [
                {"type": "image", "source": {"type": "base64", "data": "x"}}]}]),
            "`messages[0].content[0].source.media_type` must be a string",
        ),
        (
            json!([{"role": "assistant", "content": [
                {"type": "tool_use", "id": "t", "name": "f", "input": "x"}]}]),
            "`messages[0].content[0].input` must be an object",
        ),
        (
            json!([{"role": "assistant", "content": [{"type": "image"}]}]),
            "`messages[0].content[0].type` is 'image'; an assistant message may hold text, \
             tool_use, thinking, redacted_thinking and server tool blocks",
        ),
        (
            json!([{"role": "user", "content": [{"type": "tool_result", "content": "x"}]}]),
            "`messages[0].content[0].tool_use_id` must be a string",
        ),
        (
            json!([{"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "t", "content": [{"type": "audio"}]}]}]),
            "`messages[0].content[0].content[0].type` is 'audio'; a tool result may hold text, \
             image, document, search_result and tool_reference blocks",
        ),
        (
            json!([{"role": "system", "content": [{"type": "image"}]}]),
            "`messages[0].content[0]` must be a text block",
        ),
    ];
    for (messages, message) in cases {
        assert_eq!(error(messages.clone()), message, "{messages}");
    }
}
