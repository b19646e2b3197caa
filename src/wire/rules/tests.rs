//! The rules on raw bytes: the patcher's own expectations, and the same
//! answer as the parsed-map patcher ([`crate::patch::patch`]) for a corpus
//! of requests, its refusals included.

use bytes::Bytes;
use serde_json::{Value, json};

use super::*;
use crate::patch;

fn rules() -> Rules {
    Rules {
        instructions: "be brief".into(),
        strip_fields: vec!["max_output_tokens".into(), "temperature".into()],
    }
}

fn raw(v: &Value) -> RawRequest {
    RawRequest::parse(Bytes::from(v.to_string())).unwrap()
}

/// The patched body, parsed back.
fn body_of(request: &RawRequest) -> Value {
    serde_json::from_slice(&request.to_bytes()).unwrap()
}

#[test]
fn a_minimal_request_gets_everything_the_backend_requires() {
    let mut request =
        raw(&json!({"model":"gpt-5","input":"hi","max_output_tokens":5,"temperature":0.2}));
    let p = patch(&mut request, &rules()).unwrap();
    assert_eq!(
        body_of(&request),
        json!({
            "model": "gpt-5",
            "input": [{"type":"message","role":"user","content":[{"type":"input_text","text":"hi"}]}],
            "stream": true,
            "store": false,
            "instructions": "be brief",
        })
    );
    assert!(!p.client_stream);
    assert_eq!(p.changes.len(), 6, "{:?}", p.changes);
}

#[test]
fn everything_else_passes_as_sent_byte_for_byte() {
    let text = r#"{"model": "gpt-5-codex", "instructions": "mine",
        "input": [{"type":"some_future_item","x":[1,2, 3.50]}],
        "tools": [{"type":"function","name":"f","parameters":{}}], "tool_choice": "auto",
        "parallel_tool_calls": true, "reasoning": {"effort":"high","summary":"auto"},
        "include": ["reasoning.encrypted_content"], "text": {"verbosity":"low"},
        "prompt_cache_key": "abc", "stream": true, "store": false}"#;
    let source = Bytes::from(text);
    let mut request = RawRequest::parse(source.clone()).unwrap();
    let p = patch(&mut request, &rules()).unwrap();
    assert!(p.client_stream);
    assert!(p.changes.is_empty());
    assert!(!request.is_changed());
    assert_eq!(request.to_bytes(), source);
}

#[test]
fn store_true_is_turned_off_and_empty_instructions_replaced() {
    let mut request = raw(&json!({"model":"m","input":[],"store":true,"instructions":"  "}));
    patch(&mut request, &rules()).unwrap();
    let body = body_of(&request);
    assert_eq!(body["store"], json!(false));
    assert_eq!(body["instructions"], json!("be brief"));
}

#[test]
fn wrong_types_are_refused_with_the_field_named() {
    for (body, field) in [
        (json!({"input":"x"}), "`model`"),
        (json!({"model":1,"input":"x"}), "`model`"),
        (json!({"model":"","input":"x"}), "`model`"),
        (json!({"model":"m","input":"x","stream":"yes"}), "`stream`"),
        (json!({"model":"m","input":5}), "`input`"),
        (json!({"model":"m"}), "`input`"),
        (
            json!({"model":"m","input":"x","instructions":[]}),
            "`instructions`",
        ),
        (json!({"model":"m","input":"x","tools":{}}), "`tools`"),
        (
            json!({"model":"m","input":"x","reasoning":"high"}),
            "`reasoning`",
        ),
        (json!({"model":"m","input":"x","store":"no"}), "`store`"),
    ] {
        let e = patch(&mut raw(&body), &rules()).unwrap_err();
        assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST);
        assert!(e.message.contains(field), "{field}: {}", e.message);
    }
}

#[test]
fn compaction_items_pass_as_sent() {
    let input = json!([
        {"type":"message","role":"user","content":[{"type":"input_text","text":"one"}]},
        {"type":"compaction","id":"cmp_1","encrypted_content":"enc_abc"},
        {"type":"compaction_summary","id":"cmp_0","encrypted_content":"enc_old"},
        {"type":"compaction_trigger"},
    ]);
    let mut request = raw(&json!({"model":"gpt-5","instructions":"mine","input":input}));
    patch(&mut request, &rules()).unwrap();
    assert_eq!(body_of(&request)["input"], input);
}

/// `earlier` spliced as the store hands them over: their JSON joined by commas.
fn splice_input(body: &mut RawRequest, earlier: &[Value]) {
    let joined: Vec<String> = earlier.iter().map(Value::to_string).collect();
    splice_input_raw(body, joined.join(",").as_bytes());
}

#[test]
fn earlier_items_are_spliced_ahead_of_the_new_input_as_bytes() {
    let mut request = RawRequest::parse(Bytes::from_static(
        br#"{"model":"m","input":[ {"n": 3.50} ]}"#,
    ))
    .unwrap();
    splice_input(&mut request, &[json!({"n": 1}), json!({"n": 2})]);
    assert_eq!(
        request.get("input"),
        Some(&br#"[{"n":1},{"n":2},{"n": 3.50}]"#[..])
    );
    let mut empty = raw(&json!({"model":"m","input":[]}));
    splice_input(&mut empty, &[json!(1)]);
    assert_eq!(empty.get("input"), Some(&b"[1]"[..]));
    splice_input(&mut empty, &[]);
    assert_eq!(empty.get("input"), Some(&b"[1]"[..]));
}

#[test]
fn the_previous_response_id_is_taken_out_and_must_be_a_string() {
    let mut request = raw(&json!({"model":"m","previous_response_id":"resp_1","input":[]}));
    assert_eq!(
        take_previous(&mut request).unwrap().as_deref(),
        Some("resp_1")
    );
    assert!(!request.contains("previous_response_id"));
    let mut null = raw(&json!({"previous_response_id": null}));
    assert_eq!(take_previous(&mut null).unwrap(), None);
    assert!(!null.contains("previous_response_id"));
    let e = take_previous(&mut raw(&json!({"previous_response_id": 5}))).unwrap_err();
    assert_eq!(e.param.as_deref(), Some("previous_response_id"));
}

#[test]
fn encrypted_reasoning_is_asked_for_once_reading_only_include() {
    let mut absent = raw(&json!({"model":"m","input":[]}));
    assert!(!request_encrypted_reasoning(&mut absent).unwrap());
    assert_eq!(
        body_of(&absent),
        json!({"model":"m","input":[],"include":["reasoning.encrypted_content"]})
    );
    let mut asked = raw(&json!({"include":["reasoning.encrypted_content"]}));
    assert!(request_encrypted_reasoning(&mut asked).unwrap());
    assert!(!asked.is_changed());
}

#[test]
fn an_alias_and_an_effort_suffix_resolve_as_on_a_parsed_map() {
    let aliases = ModelAliases::from([("fast".to_owned(), "gpt-5-mini".to_owned())]);
    let efforts = Efforts::default();
    for body in [
        json!({"model": "fast", "input": []}),
        json!({"model": "gpt-5-high", "input": [], "reasoning": {"summary": "auto"}}),
        json!({"model": "gpt-5-low", "reasoning": {"effort": "high"}}),
        json!({"model": "gpt-5", "input": []}),
        json!({"model": 7}),
    ] {
        let mut tree = body.as_object().unwrap().clone();
        aliases::apply(&mut tree, &aliases, &efforts);
        let mut request = raw(&body);
        resolve_model(&mut request, &aliases, &efforts).unwrap();
        assert_eq!(
            body_of(&request).to_string(),
            Value::Object(tree).to_string(),
            "{body}"
        );
    }
}

/// Requests to compare the two patchers on: the fuzz seeds, the patcher's
/// own test bodies, and every field of a full request set to every type.
fn corpus() -> Vec<Vec<u8>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/patch");
    let mut corpus: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| std::fs::read(entry.unwrap().path()).unwrap())
        .collect();
    assert!(corpus.len() >= 7, "the fuzz seeds are missing");
    let full = json!({"model":"gpt-5","instructions":"mine","input":[{"type":"message","role":"user",
        "content":"hi"}],"tools":[],"include":[],"reasoning":{},"text":{},"stream":true,
        "store":false,"max_output_tokens":5,"temperature":0.5,"prompt_cache_key":"k"});
    let kinds = [
        json!(null),
        json!(true),
        json!(false),
        json!(0),
        json!(-1.5e3),
        json!(""),
        json!("  "),
        json!("text with \"quotes\" and \\u00e9 é"),
        json!([]),
        json!([1, {"a": null}]),
        json!({}),
        json!({"effort": "low"}),
    ];
    for key in full.as_object().unwrap().keys() {
        for kind in &kinds {
            let mut body = full.clone();
            body[key] = kind.clone();
            corpus.push(body.to_string().into_bytes());
            body.as_object_mut().unwrap().remove(key);
            corpus.push(body.to_string().into_bytes());
        }
    }
    corpus.extend(
        [
            &br#"{"model":"m","input":"x","model":"n"}"#[..],
            br#" { "model" : "m" , "input" : [ ] } "#,
            br#"{"model":"m","input":"\ud83d\ude00 \n"}"#,
            br#"{"model":"m","input":[1e400]}"#,
            br#"{"model":"m","input":"x"} trailing"#,
            b"[]",
            b"",
            b"nul",
        ]
        .map(<[u8]>::to_vec),
    );
    corpus
}

#[test]
fn the_raw_patcher_and_the_parsed_map_patcher_give_the_same_json() {
    let rules = Rules {
        instructions: "You are a helpful assistant.".into(),
        strip_fields: vec!["max_output_tokens".into(), "temperature".into()],
    };
    for body in corpus() {
        let tree = patch::parse_object(&body).and_then(|map| patch::patch(map, &rules));
        let raw = RawRequest::parse(Bytes::from(body.clone())).and_then(|mut request| {
            let patched = patch(&mut request, &rules)?;
            Ok((request, patched))
        });
        let shown = String::from_utf8_lossy(&body);
        match (tree, raw) {
            (Ok(tree), Ok((request, patched))) => {
                let out: Value = serde_json::from_slice(&request.to_bytes()).unwrap();
                assert_eq!(
                    out.to_string(),
                    Value::Object(tree.body).to_string(),
                    "{shown}"
                );
                assert_eq!(patched.client_stream, tree.client_stream, "{shown}");
                assert_eq!(patched.changes, tree.changes, "{shown}");
            }
            (Err(tree), Err(raw)) => assert_eq!(raw.message, tree.message, "{shown}"),
            // The one difference, on purpose: a number past f64's range is
            // valid JSON, and in a value the rules do not read it is left
            // for the backend to judge rather than parsed to be refused.
            (Err(tree), Ok(_)) if tree.message.contains("number out of range") => {}
            (tree, raw) => panic!(
                "{shown}: the parsed map gave {:?}, the raw bytes {:?}",
                tree.map(|t| t.body),
                raw.map(|(r, _)| r.to_bytes())
            ),
        }
    }
}
