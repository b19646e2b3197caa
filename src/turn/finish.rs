//! The end of an answer, the same whether it was streamed or collected: the
//! response object as the client gets it (its `output` rebuilt from the
//! stream, the `previous_response_id` it sent, reasoning content only when
//! it asked for it) and, when the answer is to be kept, its commit to the
//! store, awaited before the client gets the last byte. So an answer a
//! client received can always be continued, even if the daemon dies at once.
//!
//! Contents are never logged; a failed commit names the response id only.

use bytes::{Bytes, BytesMut};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::sse;
use crate::store::continuity::strip_encrypted_reasoning;
use crate::store::{Answer, Store, StoreError, StoredResponse};
use crate::turn::collect::Collected;

/// What marks an event that may carry reasoning content: only events with
/// it are parsed, and few are.
const ENCRYPTED: &[u8] = b"\"encrypted_content\"";

/// What to do with an answer once the backend finished it. The default
/// passes it as the backend built it, with only its `output` rebuilt.
#[derive(Debug, Clone, Default)]
pub struct Finish {
    /// The `previous_response_id` the client sent; the backend saw none.
    pub previous_response_id: Option<String>,
    /// The proxy asked for reasoning content the client did not ask for:
    /// it is kept in the store and removed from what the client gets.
    pub strip_reasoning: bool,
    /// Where the answer is kept, when the client's `store` says so.
    pub keep: Option<Keep>,
}

/// A store to commit the answer to, and this turn's own input items: the
/// JSON text of their list as the client sent it (a long one is kept as it
/// came, not parsed and written again).
#[derive(Debug, Clone)]
pub struct Keep {
    pub store: Store,
    /// This turn's input, from [`Store::name_input`].
    pub input: crate::store::Input,
}

impl Finish {
    fn is_plain(&self) -> bool {
        self.previous_response_id.is_none() && !self.strip_reasoning && self.keep.is_none()
    }

    /// The response object for the client as JSON, committed to the store
    /// first when it is kept. A failed commit is a warning: the client still
    /// gets its answer, and only a later chain from it fails.
    pub async fn response(self, mut collected: Collected) -> Vec<u8> {
        if self.is_plain() {
            return collected.to_vec();
        }
        if let Some(id) = &self.previous_response_id
            && let Ok(id) = serde_json::value::to_raw_value(id)
        {
            collected.set("previous_response_id", id);
        }
        // The object as the store keeps it: the backend's fields as sent.
        let text = collected.to_vec();
        if let Some(keep) = self.keep {
            keep.commit(&text).await;
        }
        if self.strip_reasoning
            && memchr::memmem::find(&text, ENCRYPTED).is_some()
            && let Ok(mut response) = serde_json::from_slice::<Value>(&text)
        {
            strip_encrypted_reasoning(&mut response);
            // A `Value` always serializes: its keys are strings.
            return serde_json::to_vec(&response).unwrap_or_default();
        }
        text
    }

    /// The block holding the terminal event, with that event's `response`
    /// replaced by [`Finish::response`]'s; the other events of the block as
    /// [`Finish::event_block`] passes them.
    pub async fn terminal_block(self, block: &Bytes, collected: Collected) -> Bytes {
        let strip = self.strip_reasoning;
        let mut response = Some(self.response(collected).await);
        rewrite_frames(block, |frame| {
            if response.is_some() && is_finished(frame) {
                return with_response(frame, response.take()?);
            }
            strip.then(|| strip_frame(frame)).flatten()
        })
    }

    /// A block of events before the terminal one: as it came, unless it
    /// carries reasoning content the client did not ask for.
    pub fn event_block(&self, block: Bytes) -> Bytes {
        if !self.strip_reasoning || memchr::memmem::find(&block, ENCRYPTED).is_none() {
            return block;
        }
        rewrite_frames(&block, strip_frame)
    }
}

impl Keep {
    /// Commits the response object `text`: as it is when the store would
    /// change nothing in it (the backend's items have their ids), else
    /// through [`StoredResponse::new`].
    async fn commit(self, text: &[u8]) {
        let answer = String::from_utf8(text.to_vec())
            .ok()
            .and_then(Answer::from_json)
            .map_or_else(|| parsed_answer(text), Ok);
        let answer = match answer {
            Ok(answer) => answer,
            Err(e) => {
                tracing::warn!(error = %e, "the answer was not stored");
                return;
            }
        };
        let id = answer.id.clone();
        if let Err(e) = self.store.put_answer(answer, self.input).await {
            tracing::warn!(response_id = %id, error = %e, "the answer was not stored");
        }
    }
}

/// The response object `text` through [`StoredResponse::new`], which gives
/// its items their ids.
fn parsed_answer(text: &[u8]) -> Result<Answer, StoreError> {
    let response = serde_json::from_slice(text)?;
    Answer::of(&StoredResponse::new(response, Vec::new())?)
}

/// `response.completed` or `response.incomplete`: the events whose response
/// is the answer.
fn is_finished(frame: &[u8]) -> bool {
    sse::frame_kind(frame)
        .is_some_and(|kind| matches!(&*kind, "response.completed" | "response.incomplete"))
}

/// The terminal frame with `response` in place of its own: the event's
/// other fields (`type`, `sequence_number`) kept as sent.
fn with_response(frame: &[u8], response: Vec<u8>) -> Option<Vec<u8>> {
    let event = sse::parse_frame(frame)?;
    let mut fields: Collected = serde_json::from_str(&event.data).ok()?;
    let response = RawValue::from_string(String::from_utf8(response).ok()?).ok()?;
    fields.set("response", response);
    Some(frame_bytes(event.name, &fields.to_vec()))
}

/// A frame whose data carries reasoning content, without it.
fn strip_frame(frame: &[u8]) -> Option<Vec<u8>> {
    memchr::memmem::find(frame, ENCRYPTED)?;
    let event = sse::parse_frame(frame)?;
    let mut data: Value = serde_json::from_str(&event.data).ok()?;
    strip_encrypted_reasoning(&mut data);
    Some(frame_bytes(event.name, &serde_json::to_vec(&data).ok()?))
}

/// `event: NAME\ndata: DATA\n`, the blank line that ends it left to the block.
fn frame_bytes(name: Option<&str>, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 64);
    if let Some(name) = name {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(name.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(data);
    out.push(b'\n');
    out
}

/// `block` with each frame `edit` returns new bytes for replaced, and
/// everything else (other frames, the blank lines between them) as it was.
/// A block nothing is replaced in is handed back without a copy.
fn rewrite_frames(block: &Bytes, mut edit: impl FnMut(&[u8]) -> Option<Vec<u8>>) -> Bytes {
    let base = block.as_ptr() as usize;
    let mut out: Option<BytesMut> = None;
    let mut copied = 0;
    for frame in sse::frames(block) {
        let Some(new) = edit(frame) else { continue };
        // Frames are slices of `block`, so their place in it is their offset.
        let start = frame.as_ptr() as usize - base;
        let out = out.get_or_insert_with(|| BytesMut::with_capacity(block.len() + 256));
        out.extend_from_slice(&block[copied..start]);
        out.extend_from_slice(&new);
        copied = start + frame.len();
    }
    match out {
        None => block.clone(),
        Some(mut out) => {
            out.extend_from_slice(&block[copied..]);
            out.freeze()
        }
    }
}

#[cfg(test)]
#[path = "finish_tests.rs"]
mod tests;
