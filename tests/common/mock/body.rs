//! The backend's rules for a request body, shared by both transports: the
//! compressed encodings it accepts (PROTOCOL.md §12), the rules of §3 whose
//! breach is a 400, and the compaction items of §9 it can decrypt.

use std::io::Read;

use axum::http::{HeaderMap, StatusCode, header};
use serde_json::Value;

use super::MockState;

/// How a request body arrived, when it was compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Zstd,
    Gzip,
}

/// Decoded bodies larger than this are refused, so a compression bomb sent
/// through a proxy is a 413 here rather than an allocation.
pub const MAX_DECODED_BYTES: usize = 64 << 20;

/// A request the backend refuses: the status and the message of its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub message: String,
}

impl Refusal {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Refusal {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
}

/// The body as the backend reads it, decoded per `Content-Encoding`.
pub fn decode(headers: &HeaderMap, raw: &[u8]) -> Result<(Vec<u8>, Option<Encoding>), Refusal> {
    let name = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase());
    let encoding = match name.as_deref() {
        None | Some("identity") => return Ok((raw.to_vec(), None)),
        Some("zstd") => Encoding::Zstd,
        Some("gzip") => Encoding::Gzip,
        Some(other) => {
            return Err(Refusal {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                message: format!("Unsupported Content-Encoding: {other}"),
            });
        }
    };
    let reader: Box<dyn Read + '_> = match encoding {
        Encoding::Zstd => match zstd::stream::read::Decoder::new(raw) {
            Ok(decoder) => Box::new(decoder),
            Err(_) => return Err(Refusal::bad_request("Invalid zstd body")),
        },
        Encoding::Gzip => Box::new(flate2::read::GzDecoder::new(raw)),
    };
    let mut decoded = Vec::new();
    if reader
        .take(MAX_DECODED_BYTES as u64 + 1)
        .read_to_end(&mut decoded)
        .is_err()
    {
        return Err(Refusal::bad_request("Invalid compressed body"));
    }
    if decoded.len() > MAX_DECODED_BYTES {
        return Err(Refusal {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            message: "Request body too large".to_owned(),
        });
    }
    Ok((decoded, Some(encoding)))
}

/// The first rule of PROTOCOL.md §3 that `body` breaks, as the backend words it.
pub fn check_responses_body(body: &Value) -> Option<Refusal> {
    let bad = |m: &str| Some(Refusal::bad_request(m));
    if !body.is_object() {
        return bad("Invalid JSON");
    }
    if body.get("stream") != Some(&Value::Bool(true)) {
        return bad("Stream must be set to true");
    }
    if body.get("store") != Some(&Value::Bool(false)) {
        return bad("Store must be set to false");
    }
    check_common(body)
}

/// The rules of the legacy `/responses/compact` (PROTOCOL.md §9): those of
/// `/responses` without `stream` and `store`, which it does not take at all.
pub fn check_compact_body(body: &Value) -> Option<Refusal> {
    if !body.is_object() {
        return Some(Refusal::bad_request("Invalid JSON"));
    }
    for field in ["stream", "store"] {
        if body.get(field).is_some() {
            return Some(Refusal::bad_request(format!(
                "Unsupported parameter: {field}"
            )));
        }
    }
    check_common(body)
}

fn check_common(body: &Value) -> Option<Refusal> {
    let bad = |m: &str| Some(Refusal::bad_request(m));
    if body
        .get("instructions")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return bad("Instructions are required");
    }
    if !body.get("input").is_some_and(Value::is_array) {
        return bad("Input must be a list");
    }
    for field in [
        "max_output_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
    ] {
        if body.get(field).is_some() {
            return bad(&format!("Unsupported parameter: {field}"));
        }
    }
    let model = body.get("model").and_then(Value::as_str).unwrap_or("");
    // The preview model is known; whether this client may use it is the
    // catalogue's call (`check_client_version`).
    if ![
        "gpt-5",
        "gpt-5-codex",
        "gpt-5.1-codex",
        super::NEXT_RELEASE_MODEL,
    ]
    .contains(&model)
    {
        return bad(&format!(
            "The '{model}' model is not supported when using Codex with a ChatGPT account."
        ));
    }
    None
}

/// Whether `item` is a compaction summary, under either of its type names.
pub fn is_compaction(item: &Value) -> bool {
    matches!(
        item.get("type").and_then(Value::as_str),
        Some("compaction" | "compaction_summary")
    )
}

/// Whether the last input item asks for a compaction (PROTOCOL.md §9).
pub fn asks_compaction(input: &[Value]) -> bool {
    input
        .last()
        .is_some_and(|item| item.get("type").and_then(Value::as_str) == Some("compaction_trigger"))
}

impl MockState {
    /// Refuses a compaction item whose encrypted content this backend did not
    /// issue (a proxy that rewrote it), and counts those it accepts.
    pub(super) fn check_compactions(&self, input: &[Value]) -> Option<Refusal> {
        let issued = self.compactions_issued.lock().unwrap();
        let mut accepted = 0;
        for item in input.iter().filter(|item| is_compaction(item)) {
            let content = item.get("encrypted_content").and_then(Value::as_str);
            if !content.is_some_and(|c| issued.iter().any(|(_, known)| known == c)) {
                return Some(Refusal::bad_request(
                    "Invalid compaction item: the encrypted content could not be verified",
                ));
            }
            accepted += 1;
        }
        self.compactions_accepted
            .fetch_add(accepted, std::sync::atomic::Ordering::SeqCst);
        None
    }
}
