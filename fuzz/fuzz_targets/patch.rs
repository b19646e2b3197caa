//! The request patchers: any bytes in, either a clear refusal or a body the
//! backend's rules accept; and the raw-bytes patcher of the Responses door
//! (`wire::rules`) gives the same JSON, changes and refusals as the
//! parsed-map one (`patch::patch`) that the other dialects use.
#![no_main]

use bytes::Bytes;
use codex_responses_proxy::patch::{self, Rules};
use codex_responses_proxy::wire::raw::RawRequest;
use codex_responses_proxy::wire::rules;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|input: &[u8]| {
    let rules = Rules {
        instructions: "You are a helpful assistant.".into(),
        strip_fields: vec![
            "max_output_tokens".into(),
            "temperature".into(),
            "top_p".into(),
        ],
    };
    let raw = RawRequest::parse(Bytes::copy_from_slice(input)).and_then(|mut request| {
        let patched = rules::patch(&mut request, &rules)?;
        Ok((request, patched))
    });
    let tree = patch::parse_object(input).and_then(|body| patch::patch(body, &rules));
    let patched = match (tree, raw) {
        (Ok(tree), Ok((request, raw))) => {
            let out: Value =
                serde_json::from_slice(&request.to_bytes()).expect("the raw body is JSON");
            assert_eq!(
                out.to_string(),
                Value::Object(tree.body.clone()).to_string()
            );
            assert_eq!(raw.client_stream, tree.client_stream);
            assert_eq!(raw.changes, tree.changes);
            tree
        }
        (Err(tree), Err(raw)) => {
            assert_eq!(raw.message, tree.message);
            return;
        }
        // On purpose: a value the rules do not read is not parsed, so what
        // only a parse refuses (a number past f64, a lone surrogate) inside
        // it is the backend's to judge.
        (Err(_), Ok(_)) => return,
        (Ok(_), Err(raw)) => panic!("the raw patcher refused a body the tree took: {raw:?}"),
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
