//! The request patcher: any bytes in, either a clear refusal or a body the
//! backend's rules accept.
#![no_main]

use codex_responses_proxy::patch::{self, Rules};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|input: &[u8]| {
    let Ok(body) = patch::parse_object(input) else {
        return;
    };
    let rules = Rules {
        instructions: "You are a helpful assistant.".into(),
        strip_fields: vec![
            "max_output_tokens".into(),
            "temperature".into(),
            "top_p".into(),
        ],
    };
    let Ok(patched) = patch::patch(body, &rules) else {
        return;
    };
    let body = &patched.body;
    assert_eq!(body.get("stream"), Some(&Value::Bool(true)));
    assert_eq!(body.get("store"), Some(&Value::Bool(false)));
    assert!(
        body.get("instructions")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.trim().is_empty())
    );
    assert!(body.get("input").is_some_and(Value::is_array));
    assert!(
        body.get("model")
            .and_then(Value::as_str)
            .is_some_and(|m| !m.is_empty())
    );
    for field in &rules.strip_fields {
        assert!(!body.contains_key(field));
    }
    // What goes upstream always serializes.
    serde_json::to_vec(body).expect("a patched body serializes");
});
