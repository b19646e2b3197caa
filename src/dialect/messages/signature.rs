//! The `signature` of the thinking blocks this proxy produces.
//!
//! Anthropic clients send earlier turns' thinking blocks back with their
//! signature untouched. Ours carries the Responses reasoning item's
//! `encrypted_content`, so that the reasoning goes back upstream and the model
//! keeps its chain of thought across turns (tool calls above all). The format:
//!
//! `cxr1.` + base64url(item id, no padding) + `.` + `encrypted_content` verbatim
//!
//! The prefix tells our signatures from Anthropic's (plain base64, which has
//! no `.`); the id is encoded so that the first `.` after it always ends it,
//! whatever the encrypted content holds; the content is kept as is because it
//! is already text and can run to tens of kilobytes.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

const PREFIX: &str = "cxr1.";

/// A reasoning item recovered from a signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reasoning {
    /// The upstream item id (`rs_…`); kept for logs, not sent back: with
    /// `store: false` the backend keeps no items to refer to.
    pub id: String,
    pub encrypted_content: String,
}

/// The signature for a reasoning item.
pub fn encode(id: &str, encrypted_content: &str) -> String {
    format!(
        "{PREFIX}{}.{encrypted_content}",
        URL_SAFE_NO_PAD.encode(id.as_bytes())
    )
}

/// The reasoning item a signature carries, or `None` for a signature this
/// proxy did not make (Anthropic's own, another proxy's, a damaged one).
pub fn decode(signature: &str) -> Option<Reasoning> {
    let rest = signature.strip_prefix(PREFIX)?;
    let (id, encrypted_content) = rest.split_once('.')?;
    if encrypted_content.is_empty() {
        return None;
    }
    let id = String::from_utf8(URL_SAFE_NO_PAD.decode(id).ok()?).ok()?;
    Some(Reasoning {
        id,
        encrypted_content: encrypted_content.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_round_trips_even_when_the_content_holds_dots() {
        let signature = encode("rs_123", "gAAAA.bb==.c");
        assert_eq!(signature, "cxr1.cnNfMTIz.gAAAA.bb==.c");
        assert_eq!(
            decode(&signature),
            Some(Reasoning {
                id: "rs_123".into(),
                encrypted_content: "gAAAA.bb==.c".into(),
            })
        );
        assert_eq!(
            decode(&encode("", "x")),
            Some(Reasoning {
                id: String::new(),
                encrypted_content: "x".into(),
            })
        );
    }

    #[test]
    fn foreign_and_damaged_signatures_are_not_ours() {
        for signature in [
            "EqQBCkgIARABGAIiQL2f0x7Q==",
            "",
            "cxr1.",
            "cxr1.cnNfMTIz",
            "cxr1.cnNfMTIz.",
            "cxr1.!!.abc",
            "cxr1./w.abc",
        ] {
            assert_eq!(decode(signature), None, "{signature}");
        }
    }
}
