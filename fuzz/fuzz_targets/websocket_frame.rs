//! The WebSocket door's frame reader: any text as a client's frame is told
//! apart (a request, a legacy frame, an unknown kind, a refusal) without a
//! panic; a `response.create` comes out patched by the backend's rules (the
//! raw patch the pipeline hands the reader) and, made an HTTP body, without the
//! socket-only fields; the same text read as a backend frame ends a turn
//! when, and only when, its kind is a terminal event's.
#![no_main]

use bytes::Bytes;
use codex_responses_proxy::patch::Rules;
use codex_responses_proxy::sse;
use codex_responses_proxy::turn::frames::{self, ClientFrame};
use codex_responses_proxy::wire::rules;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|input: &[u8]| {
    let Ok(text) = std::str::from_utf8(input) else {
        return;
    };
    let rules = Rules {
        instructions: "You are a helpful assistant.".into(),
        strip_fields: vec!["temperature".into(), "top_p".into()],
    };
    let read = frames::read(Bytes::copy_from_slice(input), |frame| {
        rules::patch(frame, &rules).map(drop)
    });
    if let ClientFrame::Create(create) = read {
        // Only the fields the rules name are parsed: a value only a parse
        // refuses (a lone surrogate) may sit in another one, as sent.
        let Ok(body) = create.parsed() else {
            assert!(serde_json::from_str::<Value>(text).is_err());
            return;
        };
        assert_eq!(
            body.get("type").and_then(Value::as_str),
            Some(frames::CREATE)
        );
        assert_eq!(body.get("stream"), Some(&Value::Bool(true)));
        assert_eq!(body.get("store"), Some(&Value::Bool(false)));
        let http = frames::for_http(body);
        for field in ["type", "generate", "previous_response_id"] {
            assert!(!http.contains_key(field), "{field} left in an HTTP body");
        }
        serde_json::to_vec(&http).expect("an HTTP body serializes");
    }
    // A backend frame's kind alone says whether it ends the turn (read
    // cheaply where the backend puts it, first), and only an `error` ends
    // it with another status than 200.
    let kind = sse::json_type(text);
    let end = frames::turn_end(text);
    assert_eq!(end.is_some(), kind.as_deref().is_some_and(sse::is_terminal));
    if kind.as_deref() != Some("error") {
        assert!(end.is_none_or(|status| status == 200));
    }
});
