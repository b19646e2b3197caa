//! Assembling one Responses object from the events of a stream, for clients
//! that asked for `stream: false`.
//!
//! Pure, and cheap on the path every collected answer takes: the objects are
//! kept as the raw JSON text upstream sent (validated, never rebuilt into
//! trees), the terminal event's `response` is split only at its top level,
//! and text deltas are read only for an item that never finishes.
//! Events the answer does not need are skipped by their `event:` line.

use std::fmt;

use bytes::Bytes;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use crate::sse;

/// How a collected response ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// `response.completed` or `response.incomplete`: the full response object.
    Finished(Collected),
    /// `response.failed` or `error`: the upstream's error object (`{code, message, …}`).
    Failed(Value),
}

/// A collected Responses object: its top-level fields in upstream's order,
/// each value the raw JSON upstream sent (or the rebuilt `output`).
#[derive(Debug, Clone, Default)]
pub struct Collected {
    fields: Vec<(String, Box<RawValue>)>,
}

impl PartialEq for Collected {
    fn eq(&self, other: &Self) -> bool {
        self.to_value() == other.to_value()
    }
}

impl Collected {
    /// The object as JSON text.
    pub fn to_vec(&self) -> Vec<u8> {
        let len = self.fields.iter().map(|(k, v)| k.len() + v.get().len() + 4);
        let mut out = Vec::with_capacity(len.sum::<usize>() + 2);
        // Writing to a Vec fails only if a value does, and raw values are
        // valid JSON by construction.
        let _ = serde_json::to_writer(&mut out, self);
        out
    }

    /// The object as a tree, for translating it (Chat Completions).
    pub fn to_value(&self) -> Value {
        let map: Map<String, Value> = self
            .fields
            .iter()
            .map(|(k, v)| {
                let value = serde_json::from_str(v.get()).unwrap_or(Value::Null);
                (k.clone(), value)
            })
            .collect();
        Value::Object(map)
    }

    pub(crate) fn get(&self, key: &str) -> Option<&RawValue> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| &**v)
    }

    pub(crate) fn set(&mut self, key: &str, value: Box<RawValue>) {
        match self.fields.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value,
            None => self.fields.push((key.to_owned(), value)),
        }
    }
}

impl Serialize for Collected {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.fields.len()))?;
        for (k, v) in &self.fields {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Collected {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = Collected;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Collected, A::Error> {
                let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(32));
                while let Some(entry) = map.next_entry::<String, Box<RawValue>>()? {
                    fields.push(entry);
                }
                Ok(Collected { fields })
            }
        }
        deserializer.deserialize_map(Fields)
    }
}

/// `response.output_item.added` / `.done`, read no deeper than the item.
#[derive(Deserialize)]
struct ItemEvent {
    output_index: u64,
    item: Box<RawValue>,
}

/// `response.completed` / `.incomplete`: the response, split at its top level.
#[derive(Deserialize)]
struct Terminal {
    response: Option<Box<RawValue>>,
}

/// Builds one Responses object from the events of a stream.
#[derive(Debug, Default)]
pub struct Collector {
    /// The `response` of the last `response.created` / `.in_progress`.
    latest_response: Option<Box<RawValue>>,
    /// `(output_index, item)` from `response.output_item.done`.
    done_items: Vec<(u64, Box<RawValue>)>,
    /// Items announced by `response.output_item.added` and not yet done.
    open_items: Vec<(u64, Box<RawValue>)>,
    /// The blocks of events since no item was open (shared, not copied):
    /// their text deltas are read only for an item that never finishes.
    /// Released whenever every item announced so far is done, so a stream
    /// passed through holds at most its current items, not all of itself.
    blocks: Vec<Bytes>,
}

impl Collector {
    /// Takes a block of whole events; returns the outcome once a terminal
    /// event arrives.
    pub fn push_block(&mut self, block: &Bytes) -> Option<Outcome> {
        self.blocks.push(block.clone());
        for frame in sse::frames(block) {
            // Most events (text deltas, content parts) do not shape the
            // answer: their data is not even read.
            if let Some(name) = sse::frame_name(frame)
                && !wanted(name)
            {
                continue;
            }
            let Some(event) = sse::parse_frame(frame) else {
                continue;
            };
            let Some(kind) = event.kind() else { continue };
            if let Some(outcome) = self.push(&kind, &event.data) {
                return Some(outcome);
            }
        }
        // An item's deltas come after its `added`: with none open, no delta
        // seen so far can be needed.
        if self.open_items.is_empty() {
            self.blocks.clear();
        }
        None
    }

    /// Takes one event; returns the outcome once a terminal event arrives.
    fn push(&mut self, kind: &str, data: &str) -> Option<Outcome> {
        match kind {
            "response.created" | "response.in_progress" => {
                if let Ok(Terminal {
                    response: Some(response),
                }) = serde_json::from_str(data)
                {
                    self.latest_response = Some(response);
                }
                None
            }
            "response.output_item.added" => {
                if let Ok(e) = serde_json::from_str::<ItemEvent>(data) {
                    self.open_items.push((e.output_index, e.item));
                }
                None
            }
            "response.output_item.done" => {
                if let Ok(e) = serde_json::from_str::<ItemEvent>(data) {
                    self.open_items.retain(|o| o.0 != e.output_index);
                    self.done_items.push((e.output_index, e.item));
                }
                None
            }
            "response.completed" | "response.incomplete" => Some(self.complete(kind, data)),
            "response.failed" => Some(Outcome::Failed(failed_response_error(data))),
            "error" => Some(Outcome::Failed(error_event_error(data))),
            _ => None,
        }
    }

    /// The outcome of `response.completed` / `.incomplete`: the response it
    /// carries, else the latest one seen, with its `output` filled in.
    fn complete(&mut self, kind: &str, data: &str) -> Outcome {
        // A terminal event we cannot read must not pass for an answer.
        let event = serde_json::from_str::<Terminal>(data)
            .ok()
            .filter(|_| data.trim_start().starts_with('{'));
        let Some(event) = event else {
            return Outcome::Failed(json!({
                "code": "upstream_malformed_event",
                "message": format!("the Codex backend ended the response with a {kind} event that is not a JSON object"),
            }));
        };
        let response = event
            .response
            .as_deref()
            .filter(|r| r.get().starts_with('{'))
            .or(self.latest_response.as_deref())
            .and_then(|r| serde_json::from_str::<Collected>(r.get()).ok())
            .unwrap_or_default();
        Outcome::Finished(self.finish(response))
    }

    /// Fills a missing or empty `output` from the items seen in the stream,
    /// in `output_index` order.
    fn finish(&mut self, mut response: Collected) -> Collected {
        let has_output = response
            .get("output")
            .is_some_and(|o| o.get().starts_with('[') && !is_empty_array(o.get()));
        if has_output {
            return response;
        }
        let mut items = std::mem::take(&mut self.done_items);
        for (i, item) in std::mem::take(&mut self.open_items) {
            items.push((i, self.unfinished_item(i, item)));
        }
        items.sort_by_key(|(i, _)| *i);
        let mut output =
            String::with_capacity(items.iter().map(|(_, v)| v.get().len() + 1).sum::<usize>() + 2);
        output.push('[');
        for (n, (_, item)) in items.iter().enumerate() {
            if n > 0 {
                output.push(',');
            }
            output.push_str(item.get());
        }
        output.push(']');
        if let Ok(output) = RawValue::from_string(output) {
            response.set("output", output);
        }
        response
    }

    /// An item that never finished: a message gets the text of its deltas.
    fn unfinished_item(&self, index: u64, item: Box<RawValue>) -> Box<RawValue> {
        let text: String = self
            .blocks
            .iter()
            .flat_map(|block| sse::events(block))
            .filter(|e| e.kind().as_deref() == Some("response.output_text.delta"))
            .filter_map(|e| parse(&e.data))
            .filter(|d| d.get("output_index").and_then(Value::as_u64) == Some(index))
            .filter_map(|d| d.get("delta").and_then(Value::as_str).map(str::to_owned))
            .collect();
        let Ok(mut value) = serde_json::from_str::<Value>(item.get()) else {
            return item;
        };
        if text.is_empty() || value.get("type").and_then(Value::as_str) != Some("message") {
            return item;
        }
        value["content"] = json!([{"type": "output_text", "text": text, "annotations": []}]);
        value["status"] = Value::from("completed");
        serde_json::value::to_raw_value(&value).unwrap_or(item)
    }
}

/// The error of a `response.failed` event: its `response.error`, or `{}`.
fn failed_response_error(data: &str) -> Value {
    parse(data)
        .and_then(|mut e| e.get_mut("response")?.get_mut("error").map(Value::take))
        .filter(|e| !e.is_null())
        .unwrap_or_else(|| Value::Object(Map::new()))
}

/// The error of an `error` event: its `error` object, else the event itself.
fn error_event_error(data: &str) -> Value {
    match parse(data) {
        Some(mut e) => match e.remove("error") {
            Some(inner @ Value::Object(_)) => inner,
            _ => Value::Object(e),
        },
        None => Value::Object(Map::new()),
    }
}

/// Events that shape the answer; the others are skipped unread.
fn wanted(kind: &str) -> bool {
    matches!(
        kind,
        "response.created"
            | "response.in_progress"
            | "response.output_item.added"
            | "response.output_item.done"
            | "response.completed"
            | "response.incomplete"
            | "response.failed"
            | "error"
    )
}

/// `[]`, whatever the whitespace.
fn is_empty_array(raw: &str) -> bool {
    raw.strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .is_some_and(|inner| inner.trim().is_empty())
}

fn parse(data: &str) -> Option<Map<String, Value>> {
    match serde_json::from_str(data) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

#[cfg(test)]
#[path = "collect_tests.rs"]
mod tests;
