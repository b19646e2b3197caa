//! The translator's hot path: upstream events taken as their JSON text, and
//! Anthropic's events written as wire bytes. A delta that continues the
//! block already open (nearly every event of a long answer) changes nothing
//! but that block's content, so it is read with a borrowed parse and written
//! straight out, byte for byte as the general path would write it, without
//! building JSON trees; every other event goes through
//! [`StreamTranslator::on_event`].

use std::borrow::Cow;
use std::io::Write;

use serde::Deserialize;
use serde_json::Value;

use super::{Source, SseEvent, StreamTranslator};

/// The fields of an upstream delta event that say where it goes.
#[derive(Deserialize)]
struct Delta<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default)]
    output_index: u64,
    #[serde(default)]
    content_index: u64,
    #[serde(borrow)]
    delta: Cow<'a, str>,
}

/// Which kind of content delta an upstream delta continues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Continued {
    Text,
    Arguments,
}

impl SseEvent {
    /// Appends the event as Anthropic sends it: `event:` and `data:` lines.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let _ = write!(out, "event: {}\ndata: ", self.name.as_str());
        let _ = serde_json::to_writer(&mut *out, &self.data);
        out.extend_from_slice(b"\n\n");
    }
}

impl StreamTranslator {
    /// [`Self::on_event`] for an event's JSON text, with the events it
    /// produces appended to `out` as wire bytes. Text that is not a JSON
    /// object produces nothing.
    pub fn on_event_json(&mut self, data: &str, out: &mut Vec<u8>) {
        if let Ok(delta) = serde_json::from_str::<Delta>(data)
            && let Some((index, kind)) = self.continued(&delta)
        {
            self.item(delta.output_index).streamed = true;
            write_delta(out, index, kind, &delta.delta);
            return;
        }
        if let Ok(event) = serde_json::from_str::<Value>(data) {
            for produced in self.on_event(&event) {
                produced.write_to(out);
            }
        }
    }

    /// The index of the open block `event` continues, if it does.
    fn continued(&mut self, event: &Delta) -> Option<(u64, Continued)> {
        let open = self.open.filter(|_| !self.finished)?;
        let at = event.output_index;
        let kind = match (event.kind.as_ref(), open.source) {
            ("response.output_text.delta", Source::Text { item, part })
                if item == at && part == event.content_index =>
            {
                Continued::Text
            }
            ("response.function_call_arguments.delta", Source::Tool(item))
                if item == at && !self.item(at).done =>
            {
                Continued::Arguments
            }
            _ => return None,
        };
        Some((open.index, kind))
    }
}

/// A `content_block_delta` as `SseEvent::write_to` writes it.
fn write_delta(out: &mut Vec<u8>, index: u64, kind: Continued, text: &str) {
    let (kind, field) = match kind {
        Continued::Text => ("text_delta", "text"),
        Continued::Arguments => ("input_json_delta", "partial_json"),
    };
    let _ = write!(
        out,
        "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":{index},\
         \"delta\":{{\"type\":\"{kind}\",\"{field}\":"
    );
    let _ = serde_json::to_writer(&mut *out, text);
    out.extend_from_slice(b"}}\n\n");
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::dialect::messages::{MessagesError, ToolNames};

    /// Every event through the general path, written out.
    fn general(stream: &mut StreamTranslator, events: &[Value]) -> Vec<u8> {
        let mut out = Vec::new();
        for event in events {
            for produced in stream.on_event(event) {
                produced.write_to(&mut out);
            }
        }
        out
    }

    fn hot(stream: &mut StreamTranslator, events: &[Value]) -> Vec<u8> {
        let mut out = Vec::new();
        for event in events {
            stream.on_event_json(&event.to_string(), &mut out);
        }
        out
    }

    fn answer() -> Vec<Value> {
        let text = |i: u64, part: u64, delta: &str| {
            json!({"type": "response.output_text.delta", "item_id": "m", "output_index": i,
                   "content_index": part, "delta": delta})
        };
        let args = |i: u64, delta: &str| {
            json!({"type": "response.function_call_arguments.delta", "output_index": i,
                   "item_id": "fc", "delta": delta})
        };
        let call = json!({"type": "function_call", "id": "fc", "call_id": "call_1",
                          "name": "f", "arguments": "{\"q\":\"a\\\"b\"}"});
        vec![
            json!({"type": "response.created", "response": {"id": "resp_1", "output": []}}),
            text(0, 0, "Quotes \" and \\ and\nnew lines, "),
            text(0, 0, "unicode é 🦀 and \u{1} controls"),
            text(0, 1, "a second part"),
            text(0, 1, "."),
            json!({"type": "response.output_item.done", "output_index": 0, "item": {
                "type": "message", "content": [{"type": "output_text", "text": "unused"}]}}),
            json!({"type": "response.output_item.added", "output_index": 1, "item": call}),
            args(1, "{\"q\":"),
            args(1, "\"a\\\"b\"}"),
            json!({"type": "response.output_item.done", "output_index": 1, "item": call}),
            args(1, "late"),
            json!({"type": "response.completed", "response": {"id": "resp_1", "status": "completed",
                   "usage": {"input_tokens": 3, "output_tokens": 4}}}),
            text(0, 0, "after the end"),
        ]
    }

    #[test]
    fn the_hot_path_writes_the_same_bytes_as_the_general_one() {
        let events = answer();
        let want = general(
            &mut StreamTranslator::new("m", ToolNames::default()),
            &events,
        );
        let got = hot(
            &mut StreamTranslator::new("m", ToolNames::default()),
            &events,
        );
        assert_eq!(
            String::from_utf8(got).unwrap(),
            String::from_utf8(want).unwrap()
        );
    }

    #[test]
    fn nothing_continues_after_an_error_ended_the_stream() {
        let events = answer();
        let mut stream = StreamTranslator::new("m", ToolNames::default());
        let mut out = Vec::new();
        stream.on_event_json(&events[0].to_string(), &mut out);
        stream.on_event_json(&events[1].to_string(), &mut out);
        stream
            .finish_with_error(&MessagesError::invalid_request("x"))
            .iter()
            .for_each(|e| e.write_to(&mut out));
        let before = out.len();
        stream.on_event_json(&events[2].to_string(), &mut out);
        stream.on_event_json("not json", &mut out);
        assert_eq!(out.len(), before);
    }
}
