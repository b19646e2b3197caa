//! The Messages door's request translator: any bytes in, either an
//! Anthropic-shaped refusal or a Responses request that the backend patcher
//! takes as it takes any client's, and that always serializes.
#![no_main]

use codex_responses_proxy::dialect::messages::{Catalogue, ModelMap, translate_request};
use codex_responses_proxy::patch::{self, Rules};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

fuzz_target!(|input: &[u8]| {
    let Ok(request) = serde_json::from_slice::<Value>(input) else {
        return;
    };
    // A map with an exact name, globs and efforts, and a catalogue for the
    // Claude families' defaults: the resolution paths a real daemon takes.
    let map: ModelMap = serde_json::from_value(json!({
        "claude-opus-*": "gpt-5.5:high", "claude-*": "gpt-5", "fast": "gpt-5-codex:low",
    }))
    .expect("a valid model map");
    let catalogue = Catalogue::from_backend(&json!({"models": [
        {"slug": "gpt-5", "visibility": "list", "priority": 1,
         "supported_reasoning_levels": [{"effort": "low"}, {"effort": "high"}]},
        {"slug": "gpt-5-nano", "visibility": "list", "priority": 2},
    ]}));
    let Ok(translated) = translate_request(request, &map, &catalogue) else {
        return;
    };
    let body = &translated.body;
    assert_eq!(body.get("store"), Some(&Value::Bool(false)));
    assert_eq!(body.get("stream"), Some(&Value::Bool(true)));
    assert!(body.get("input").is_some_and(Value::is_array));
    assert!(body.get("model").is_some_and(Value::is_string));
    let rules = Rules {
        instructions: "You are a helpful assistant.".into(),
        strip_fields: vec!["temperature".into(), "top_p".into()],
    };
    if let Ok(patched) = patch::patch(translated.body, &rules) {
        serde_json::to_vec(&patched.body).expect("a patched body serializes");
    }
});
