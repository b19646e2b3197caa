//! The Chat Completions door's request translator: any bytes in, either an
//! OpenAI-shaped refusal or a Responses request that the backend patcher
//! takes as it takes any client's, and that always serializes.
#![no_main]

use codex_responses_proxy::dialect::chat::to_responses;
use codex_responses_proxy::patch::{self, Rules};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|input: &[u8]| {
    let Ok(request) = serde_json::from_slice::<Value>(input) else {
        return;
    };
    let Ok(translated) = to_responses(request) else {
        return;
    };
    let body = &translated.body;
    assert_eq!(body.get("store"), Some(&Value::Bool(false)));
    assert_eq!(body.get("stream"), Some(&Value::Bool(true)));
    assert!(body.get("input").is_some_and(Value::is_array));
    assert_eq!(
        body.get("model").and_then(Value::as_str),
        Some(translated.model.as_str())
    );
    let rules = Rules {
        instructions: "You are a helpful assistant.".into(),
        strip_fields: vec!["temperature".into(), "top_p".into()],
    };
    if let Ok(patched) = patch::patch(translated.body, &rules) {
        serde_json::to_vec(&patched.body).expect("a patched body serializes");
    }
});
